"""The generation phase: produce the adapted source of each sample.

``gold`` and ``identity`` read files of the case. ``codemod``, ``llm`` and ``auto`` go through the
real language server, driven headlessly over stdio exactly as an editor drives it: open the
document, list code actions (``refactor.rewrite``), resolve the chosen one, apply its TextEdits.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

from .. import __version__
from .dataset import Case
from .textedits import LINE_BREAK, EditError, apply_text_edits

logger = logging.getLogger(__name__)

LSP_STRATEGIES = ("codemod", "llm", "auto")
FILE_STRATEGIES = ("gold", "identity")

# The server answers a model action within lsp.model_action_seconds(options) (its own watchdog, from
# the options' per-call timeout and repair rounds); the bench waits that long plus this margin, so the
# server's one-line reason arrives before the bench gives up. A codemod resolve gets the fixed bound.
CODEMOD_RESOLVE_SECONDS = 300.0
RESOLVE_MARGIN_SECONDS = 60.0
RESOLVE_TIMEOUT_ENV = "MLOPS_LSP_BENCH_RESOLVE_TIMEOUT"


def resolve_timeout(settings: Mapping[str, Any] | None = None) -> float:
    """Seconds one codeAction/resolve may take before the sample fails (the env variable overrides)."""
    default = _settings_timeout(settings or {})
    raw = os.environ.get(RESOLVE_TIMEOUT_ENV)
    try:
        return float(raw) if raw else default
    except ValueError:
        logger.warning("%s=%r is not a number; using %.0f s", RESOLVE_TIMEOUT_ENV, raw, default)
        return default


def _settings_timeout(settings: Mapping[str, Any]) -> float:
    from ..lsp import model_action_seconds, uses_model
    from ..options import Options, merge

    options, _problems = merge(Options(), dict(settings), "bench settings")  # the server reports problems itself
    if not uses_model(options):
        return CODEMOD_RESOLVE_SECONDS
    return model_action_seconds(options) + RESOLVE_MARGIN_SECONDS


STARTUP_TIMEOUT_SECONDS = 120.0
DOCUMENT_VERSION = 1

# Another server build can be benchmarked (and the client tested) by naming its command here.
SERVER_COMMAND_ENV = "MLOPS_LSP_BENCH_SERVER"


def server_command() -> list[str]:
    custom = os.environ.get(SERVER_COMMAND_ENV)
    if custom:
        return shlex.split(custom)
    return [sys.executable, "-m", "mlops_lsp", "serve"]


@dataclass(frozen=True)
class Generation:
    """The outcome of generating one sample; ``source`` is None when generation failed."""

    source: str | None
    engine: str
    error: str | None = None
    seconds: float = 0.0
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})

    def metadata(self) -> dict[str, Any]:
        return {"engine": self.engine, "error": self.error, "seconds": round(self.seconds, 3), "tokens": self.tokens}


class ServerFailure(RuntimeError):
    """The language server could not be started or stopped answering: not a sample's fault."""


def from_files(case: Case, action_id: str, strategy: str) -> Generation | None:
    """``gold``/``identity`` samples; None when the case has no gold for the action (skipped)."""
    if strategy == "identity":
        return Generation(source=case.script.read_text(encoding="utf-8"), engine="identity")
    if strategy == "gold":
        gold = case.gold(action_id)
        if gold is None:
            return None
        return Generation(source=gold.read_text(encoding="utf-8"), engine="gold")
    raise ValueError(f"strategy {strategy!r} does not read files")


def _tokens(data: Mapping[str, Any]) -> dict[str, int]:
    raw = data.get("tokens") or {}
    counts = {}
    for key in ("prompt", "completion"):
        value = raw.get(key, 0) if isinstance(raw, Mapping) else 0
        counts[key] = value if isinstance(value, int) else 0
    return counts


def _edits_for(edit: types.WorkspaceEdit, uri: str) -> list[Any]:
    """The TextEdits of ``edit`` that target ``uri``; raises EditError on what the bench cannot apply."""
    if edit.document_changes is not None:
        edits: list[Any] = []
        for change in edit.document_changes:
            if not isinstance(change, types.TextDocumentEdit):
                raise EditError(f"unsupported resource operation {type(change).__name__} in the edit")
            if change.text_document.uri != uri:
                raise EditError(f"edit targets another document {change.text_document.uri}")
            version = change.text_document.version
            if version is not None and version != DOCUMENT_VERSION:
                raise EditError(f"edit pinned to version {version}, document is at {DOCUMENT_VERSION}")
            edits.extend(change.edits)
        return edits
    if edit.changes is not None:
        other = [target for target in edit.changes if target != uri]
        if other:
            raise EditError(f"edit targets another document {other[0]}")
        return list(edit.changes.get(uri, []))
    return []


class _BenchClient(LanguageClient):
    """A headless editor: answers the server's requests, remembers its messages."""

    def __init__(self, settings: dict[str, Any], log: IO[str]):
        super().__init__("mlops-lsp-bench", __version__)
        self.settings = settings
        self.log = log
        self.messages: list[str] = []
        self._register_handlers()

    def _register_handlers(self) -> None:
        @self.feature(types.WORKSPACE_CONFIGURATION)
        def configuration(params: types.ConfigurationParams) -> list[Any]:
            return [self.settings if item.section in (None, "mlops-lsp") else None for item in params.items]

        @self.feature(types.WINDOW_SHOW_MESSAGE)
        def show_message(params: types.ShowMessageParams) -> None:
            self.messages.append(params.message)
            self.log.write(f"[showMessage] {params.message}\n")

        @self.feature(types.WINDOW_LOG_MESSAGE)
        def log_message(params: types.LogMessageParams) -> None:
            self.log.write(f"[logMessage] {params.message}\n")

        @self.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def progress_create(_params: types.WorkDoneProgressCreateParams) -> None:
            return None

        @self.feature(types.PROGRESS)
        def progress(_params: types.ProgressParams) -> None:
            return None

        @self.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def diagnostics(_params: types.PublishDiagnosticsParams) -> None:
            return None

        @self.feature(types.CLIENT_REGISTER_CAPABILITY)
        def register_capability(_params: types.RegistrationParams) -> None:
            return None

        @self.feature(types.WORKSPACE_APPLY_EDIT)
        def apply_edit(_params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            # The bench resolves edits itself; an unrequested edit is refused, never applied silently.
            return types.ApplyWorkspaceEditResult(applied=False, failure_reason="the benchmark client applies no edits")


def client_capabilities() -> types.ClientCapabilities:
    return types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(
            apply_edit=False,
            configuration=True,
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True),
        ),
        text_document=types.TextDocumentClientCapabilities(
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(
                        value_set=[types.CodeActionKind.Refactor, types.CodeActionKind.RefactorRewrite]
                    )
                ),
                data_support=True,
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]),
            ),
        ),
        window=types.WindowClientCapabilities(work_done_progress=True),
    )


async def _drain(stream: asyncio.StreamReader | None, log: IO[str]) -> None:
    """Copy the server's stderr into the log; an unread pipe would block the server once full."""
    if stream is None:
        return
    while line := await stream.readline():
        log.write(line.decode("utf-8", "replace"))
        log.flush()


def _full_range(text: str) -> types.Range:
    """The range of the whole document, in LSP (UTF-16) positions."""
    breaks = list(LINE_BREAK.finditer(text))
    last_line = text[breaks[-1].end():] if breaks else text
    return types.Range(
        start=types.Position(line=0, character=0),
        end=types.Position(line=len(breaks), character=len(last_line.encode("utf-16-le")) // 2),
    )


class LspGenerator:
    """One language server process, reused for every document of a generation pass.

    ``settings`` are the server's initializationOptions: strategy, model, retrieval, temperature, seed.
    """

    def __init__(self, settings: dict[str, Any], log_path: Path):
        self.settings = settings
        self.log_path = log_path
        self._log: IO[str] | None = None
        self._client: _BenchClient | None = None
        self._drainer: asyncio.Task[None] | None = None
        self._workspace: Path | None = None
        self._healthy = True

    async def __aenter__(self) -> LspGenerator:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", encoding="utf-8")
        self._log.write(f"--- server start, settings {self.settings}\n")
        self._log.flush()
        self._workspace = Path(tempfile.mkdtemp(prefix="mlops-lsp-bench-"))
        client = _BenchClient(self.settings, self._log)
        command = server_command()
        self._log.write(f"--- command {command}\n")
        try:
            await client.start_io(*command)
        except OSError as exc:
            raise ServerFailure(f"cannot start the language server: {exc}") from None
        self._client = client
        self._drainer = asyncio.create_task(_drain(client._server.stderr if client._server else None, self._log))
        params = types.InitializeParams(
            capabilities=client_capabilities(),
            process_id=None,
            client_info=types.ClientInfo(name="mlops-lsp-bench", version=__version__),
            root_uri=self._workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=self._workspace.as_uri(), name="bench")],
            initialization_options=self.settings,
        )
        try:
            await asyncio.wait_for(client.initialize_async(params), STARTUP_TIMEOUT_SECONDS)
        except (RuntimeError, TimeoutError) as exc:
            await self.__aexit__(None, None, None)
            raise ServerFailure(f"language server did not initialize: {exc or 'timeout'} (log: {self.log_path})") from None
        client.initialized(types.InitializedParams())
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                if client._server is not None and client._server.returncode is None:
                    await asyncio.wait_for(client.shutdown_async(None), 10)
                    client.exit(None)
                    await asyncio.wait_for(client._server.wait(), 10)
            except TimeoutError:
                logger.warning("language server did not shut down within 10 s; killing it")
            except RuntimeError as exc:
                logger.warning("language server did not shut down cleanly: %s", exc)
            finally:
                if client._server is not None and client._server.returncode is None:
                    client._server.kill()
                    await client._server.wait()
                await client.stop()
        if self._drainer is not None:
            await self._drainer
            self._drainer = None
        if self._workspace is not None:
            shutil.rmtree(self._workspace, ignore_errors=True)
            self._workspace = None
        if self._log is not None:
            self._log.close()
            self._log = None

    @property
    def healthy(self) -> bool:
        """False once the server crashed or stopped answering; the caller starts a fresh one."""
        client = self._client
        return (
            self._healthy and client is not None and not client.stopped
            and (client._server is None or client._server.returncode is None)
        )

    async def generate(self, case: Case, action_ids: list[str]) -> dict[str, Generation]:
        """Adapt ``case``'s train.py with each action; one open document for all of them.

        A crash or a timeout is that sample's failure (the server failed on this input), but it
        ends the call early: actions missing from the result were not tried and belong on a fresh
        server (``healthy`` is then False). Every call returns at least one result.
        """
        client = self._require_client()
        assert self._workspace is not None
        document = self._workspace / case.id / "train.py"
        document.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(case.script, document)
        text = document.read_text(encoding="utf-8")
        uri = document.as_uri()
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=DOCUMENT_VERSION, text=text)
            )
        )
        results: dict[str, Generation] = {}
        started = time.monotonic()
        try:
            offered = await self._list_actions(uri, text)
        except ServerFailure as exc:
            self._healthy = False
            failed = Generation(None, engine="none", error=str(exc), seconds=time.monotonic() - started)
            return {action_id: failed for action_id in action_ids}
        listing_seconds = time.monotonic() - started
        for action_id in action_ids:
            action = offered.get(action_id)
            if action is None:
                results[action_id] = Generation(None, engine="none", error="action not offered", seconds=listing_seconds)
                continue
            results[action_id] = await self._resolve(action, uri, text, listing_seconds)
            if not self.healthy:
                return results
        client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
        return results

    def _require_client(self) -> _BenchClient:
        if not self.healthy:
            raise ServerFailure(f"the language server is not running (log: {self.log_path})")
        assert self._client is not None
        return self._client

    async def _request(self, call: Any, timeout: float, what: str) -> Any:
        try:
            return await asyncio.wait_for(call, timeout)
        except TimeoutError:
            raise ServerFailure(f"{what} timed out after {timeout:.0f}s") from None
        except RuntimeError as exc:
            # pygls fails pending requests with RuntimeError when the server process exits.
            raise ServerFailure(f"language server crashed during {what}: {exc}") from None

    async def _list_actions(self, uri: str, text: str) -> dict[str, types.CodeAction]:
        client = self._require_client()
        params = types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=_full_range(text),
            context=types.CodeActionContext(diagnostics=[], only=[types.CodeActionKind.RefactorRewrite]),
        )
        listed = await self._request(client.text_document_code_action_async(params), STARTUP_TIMEOUT_SECONDS,
                                     "textDocument/codeAction")
        offered: dict[str, types.CodeAction] = {}
        for item in listed or []:
            if isinstance(item, types.CodeAction) and isinstance(item.data, Mapping):
                action_id = item.data.get("action")
                if isinstance(action_id, str):
                    offered.setdefault(action_id, item)
        return offered

    async def _resolve(self, action: types.CodeAction, uri: str, text: str, listing_seconds: float) -> Generation:
        client = self._require_client()
        client.messages.clear()
        started = time.monotonic()
        try:
            resolved = await self._request(client.code_action_resolve_async(action), resolve_timeout(self.settings),
                                           "codeAction/resolve")
        except ServerFailure as exc:
            self._healthy = False
            return Generation(None, engine="none", error=str(exc), seconds=listing_seconds + time.monotonic() - started)
        seconds = listing_seconds + time.monotonic() - started
        data = resolved.data if isinstance(resolved.data, Mapping) else {}
        engine = data.get("engine") if isinstance(data.get("engine"), str) else "none"
        tokens = _tokens(data)
        if resolved.edit is None:
            reason = data.get("error") or (client.messages[-1] if client.messages else None) or "no edit returned"
            return Generation(None, engine=engine, error=str(reason).splitlines()[0] if str(reason) else "no edit returned",
                              seconds=seconds, tokens=tokens)
        try:
            source = apply_text_edits(text, _edits_for(resolved.edit, uri))
        except EditError as exc:
            return Generation(None, engine=engine, error=f"unusable edit: {exc}", seconds=seconds, tokens=tokens)
        return Generation(source, engine=engine, error=None, seconds=seconds, tokens=tokens)

