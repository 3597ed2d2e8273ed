"""The language server: the one module that bridges the core to LSP.

Listing code actions is cheap (regex detection, cached per document version); the edit is computed
lazily in ``codeAction/resolve`` (or in the ``mlops-lsp.applyAction`` command for clients that
cannot resolve edits) on a worker thread, so listing never waits for a transform. An edit is only
returned when the document still has the version the action was listed for.

Model actions (strategy ``llm``, or ``auto`` with a model) are slow: they run on their own daemon
threads (never the pool that serves codemod resolves), report work-done progress (``$/progress``,
with the engine's reports such as "generating: 120 tokens"), and stop when the user cancels (the
progress's cancel button, or ``$/cancelRequest`` of the resolve or the command) or when they take
longer than the options allow. A cancelled or failed model action never yields an edit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import ctypes
import gc
import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol, lsp_method
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument, Workspace

from . import __version__
from .actions import get, registry
from .core import Result, adapt
from .detect import DocumentFacts, detect
from .edits import UTF16, split_lines
from .options import Options, from_pyproject, merge

log = logging.getLogger("mlops_lsp")

APPLY_COMMAND = "mlops-lsp.applyAction"
CONFIG_SECTION = "mlops-lsp"
KIND = types.CodeActionKind.RefactorRewrite

# A model action may make one call per repair round plus the first, and one more when the retrieval
# strategy asks the model to write the search query; past that (plus this grace) the server gives up
# on it even if the engine ignores its own timeout.
EXTRA_MODEL_CALLS = 1
MODEL_GRACE_SECONDS = 30.0
PROGRESS_CREATE_SECONDS = 5.0  # a client that does not answer window/workDoneProgress/create gets no progress
REPORT_INTERVAL_SECONDS = 0.25  # token counts are streamed at most this often


def uses_model(options: Options) -> bool:
    """Whether an action run with ``options`` may call a model (and so is slow)."""
    return options.strategy != "codemod" and options.model is not None


def model_action_seconds(options: Options) -> float:
    """The longest the server waits for one model action before answering without an edit."""
    return options.timeout * (options.repair_rounds + 1 + EXTRA_MODEL_CALLS) + MODEL_GRACE_SECONDS


# -- secrets --------------------------------------------------------------------------------------

# Names of environment variables whose values must never reach a log or a message.
_SECRET_NAME = re.compile(r"(API_KEY|APIKEY|TOKEN|SECRET|PASSWORD)$", re.IGNORECASE)
_MIN_SECRET_LENGTH = 6  # shorter values ("1", "true") would redact ordinary words


def _secret_values() -> list[str]:
    values = {value for name, value in os.environ.items() if _SECRET_NAME.search(name) and len(value) >= _MIN_SECRET_LENGTH}
    return sorted(values, key=len, reverse=True)


_MIN_SECRET_PREFIX = 8  # a line cut short may end in the first characters of a secret


def redact(text: str) -> str:
    """``text`` with the value of every secret environment variable replaced by ``[redacted]``,
    including a secret cut off at the end of a shortened line ("...sk-abc12…")."""
    for value in _secret_values():
        text = text.replace(value, "[redacted]")
        for cut in range(len(value) - 1, _MIN_SECRET_PREFIX - 1, -1):
            prefix = value[:cut]
            if text.endswith(prefix) or prefix + "…" in text or prefix + "..." in text:
                text = text.replace(prefix + "…", "[redacted]…").replace(prefix + "...", "[redacted]...")
                if text.endswith(prefix):
                    text = text[: -len(prefix)] + "[redacted]"
                break
    return text


class RedactSecrets(logging.Filter):
    """Rewrites a record's message (and traceback) so that no secret from the environment is emitted."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self._formatter.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


# -- the command's request ------------------------------------------------------------------------


@dataclass(frozen=True)
class CommandRequest:
    """What pygls does not hand a command handler: the request's work-done token and its future
    (cancelled by ``$/cancelRequest``)."""

    work_done_token: types.ProgressToken | None
    future: concurrent.futures.Future[Any] | None


_command_request: contextvars.ContextVar[CommandRequest | None] = contextvars.ContextVar("command_request", default=None)


# -- documents as the editor sees them -------------------------------------------------------------


class LspTextDocument(TextDocument):
    """A document whose lines end at \\n, \\r\\n or \\r only, as LSP positions count them.

    pygls splits with ``str.splitlines``, which also breaks at form feeds, U+2028, \\x1c..\\x1e and
    \\x85 (all legal in Python source): an incremental change after one of them landed on the wrong
    line and the server's copy diverged from the editor's. Every position conversion pygls does
    (incremental changes included) goes through ``lines``, so overriding it is the whole fix; full
    sync would avoid it too, but makes the editor send a 20,000-line file on every keystroke."""

    @property
    def lines(self) -> tuple[str, ...]:
        return tuple(split_lines(self.source))


class LspWorkspace(Workspace):
    """pygls' workspace, holding :class:`LspTextDocument` documents."""

    @classmethod
    def like(cls, workspace: Workspace) -> LspWorkspace:
        return cls(workspace.root_uri, workspace._sync_kind, list(workspace.folders.values()), workspace.position_encoding)

    def _create_text_document(self, doc_uri: str, source: str | None = None, version: int | None = None,
                              language_id: str | None = None) -> TextDocument:
        return LspTextDocument(doc_uri, source=source, version=version, language_id=language_id,
                               sync_kind=self._sync_kind, position_codec=self.position_codec)


class MlopsProtocol(LanguageServerProtocol):
    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        result = yield from super().lsp_initialize(params)
        # pygls creates its own Workspace here; no document is open before initialize returns
        self._workspace = LspWorkspace.like(self.workspace)
        return result

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams):
        # The command handler is scheduled from inside this generator, so it runs in a copy of the
        # context set here. The future is the one pygls cancels on $/cancelRequest of this request.
        _command_request.set(CommandRequest(params.work_done_token, self._request_futures.get(self.msg_id)))
        return (yield from super().lsp_workspace__execute_command(params))


class MlopsLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "mlops-lsp", __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental, protocol_cls=MlopsProtocol,
        )
        self.options = Options()
        self._base_options = Options()  # defaults + pyproject + initializationOptions
        self._facts: dict[str, tuple[int | None, DocumentFacts]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.model_runs: set[threading.Event] = set()  # cancel events of the model actions in flight

    # -- client capabilities -------------------------------------------------------------------
    def resolves_edits(self) -> bool:
        code_action = self.client_capabilities.text_document and self.client_capabilities.text_document.code_action
        support = code_action and code_action.resolve_support
        return bool(support and "edit" in support.properties)

    def document_changes(self) -> bool:
        workspace = self.client_capabilities.workspace
        return bool(workspace and workspace.workspace_edit and workspace.workspace_edit.document_changes)

    def pulls_configuration(self) -> bool:
        workspace = self.client_capabilities.workspace
        return bool(workspace and workspace.configuration)

    def shows_progress(self) -> bool:
        window = self.client_capabilities.window
        return bool(window and window.work_done_progress)

    # -- messages ---------------------------------------------------------------------------------
    def tell(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """A one-line message for the user (and the log)."""
        message = redact(" ".join(message.split()))
        log.log(logging.WARNING if kind <= types.MessageType.Warning else logging.INFO, "%s", message)
        self._on_loop(self.window_show_message, types.ShowMessageParams(type=kind, message=f"mlops-lsp: {message}"))

    def _on_loop(self, send, params) -> None:
        # the transport is not thread-safe: everything is sent from the event loop's thread
        if self.loop is None or self.loop.is_closed():
            return
        if self._in_loop():
            send(params)
        else:
            self.loop.call_soon_threadsafe(send, params)

    def _in_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    # -- documents --------------------------------------------------------------------------------
    def open_document(self, uri: str) -> TextDocument | None:
        """The document the editor opened, or None: the server never reads an unopened file
        (pygls' ``get_text_document`` would read it from disk, and fail for a notebook cell)."""
        return self.workspace.text_documents.get(unquote(uri))  # pygls keys its documents so

    def position_encoding(self) -> str:
        """The position encoding negotiated at initialize (pygls takes the client's first choice
        among utf-8, utf-16 and utf-32; its document sync and our edits both count in it)."""
        return str(self.workspace.position_encoding or UTF16)

    def facts(self, uri: str) -> tuple[int | None, DocumentFacts, str] | None:
        """Detection for an open document, cached per version; None for a document not open."""
        document = self.open_document(uri)
        if document is None:
            return None
        source = document.source
        cached = self._facts.get(uri)
        if cached is None or cached[0] != document.version or document.version is None:
            cached = (document.version, detect(source))
            self._facts[uri] = cached
        return cached[0], cached[1], source


server = MlopsLanguageServer()


class _LspLogHandler(logging.Handler):
    """Forwards records to the client's log channel (window/logMessage); never stdout."""

    LEVELS = {
        logging.ERROR: types.MessageType.Error,
        logging.WARNING: types.MessageType.Warning,
        logging.INFO: types.MessageType.Info,
    }

    def __init__(self, ls: MlopsLanguageServer) -> None:
        super().__init__(logging.INFO)
        self.ls = ls
        self.addFilter(RedactSecrets())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            kind = next((t for level, t in self.LEVELS.items() if record.levelno >= level), types.MessageType.Log)
            self.ls._on_loop(self.ls.window_log_message, types.LogMessageParams(type=kind, message=self.format(record)))
        except Exception:  # logging must never take the server down
            self.handleError(record)


# -- lifecycle ------------------------------------------------------------------------------------


def _workspace_root(params: types.InitializeParams) -> Path | None:
    if params.workspace_folders:
        return Path(to_fs_path(params.workspace_folders[0].uri) or "")
    if params.root_uri:
        return Path(to_fs_path(params.root_uri) or "")
    if params.root_path:
        return Path(params.root_path)
    return None


@server.feature(types.INITIALIZE)
def initialize(ls: MlopsLanguageServer, params: types.InitializeParams) -> None:
    ls.loop = asyncio.get_event_loop()
    handler = _LspLogHandler(ls)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    problems: list[str] = []
    options = Options()
    root = _workspace_root(params)
    if root is not None:
        options, found = from_pyproject(root, options)
        problems += found
    raw = params.initialization_options
    if isinstance(raw, dict) and isinstance(raw.get(CONFIG_SECTION), dict):
        raw = raw[CONFIG_SECTION]
    options, found = merge(options, raw, "initializationOptions")
    problems += found
    problems += _model_spec_problems(options)
    ls._base_options = ls.options = options
    for problem in problems:
        ls.tell(problem)
    log.info("mlops-lsp %s started; options: %s", __version__, options)


def _model_spec_problems(options: Options) -> list[str]:
    """A malformed model SPEC, said once at start (model actions then fail with the same line)."""
    if options.model is None or options.strategy == "codemod":
        return []
    from .models import ModelError, parse_spec  # imports no model library

    try:
        parse_spec(options.model)
    except ModelError as exc:
        return [str(exc)]
    return []


async def _pull_configuration(ls: MlopsLanguageServer) -> None:
    if not ls.pulls_configuration():
        return
    try:
        (raw,) = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section=CONFIG_SECTION)])
        )
    except Exception as exc:
        log.warning("workspace/configuration failed: %s", exc)
        return
    options, problems = merge(ls._base_options, raw, "workspace/configuration")
    if options.model != ls.options.model:
        problems += _model_spec_problems(options)
    ls.options = options
    for problem in problems:
        ls.tell(problem)


@server.feature(types.INITIALIZED)
async def initialized(ls: MlopsLanguageServer, params: types.InitializedParams) -> None:
    await _pull_configuration(ls)


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
async def did_change_configuration(ls: MlopsLanguageServer, params: types.DidChangeConfigurationParams) -> None:
    if ls.pulls_configuration():
        await _pull_configuration(ls)
        return
    settings = params.settings
    if isinstance(settings, dict) and isinstance(settings.get(CONFIG_SECTION), dict):
        ls.options, problems = merge(ls._base_options, settings[CONFIG_SECTION], "didChangeConfiguration")
        for problem in problems:
            ls.tell(problem)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: MlopsLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    ls._facts.pop(params.text_document.uri, None)


# -- code actions ---------------------------------------------------------------------------------


def _kind_requested(only: list[str] | None) -> bool:
    """LSP kinds are hierarchical: "refactor" asks for "refactor.rewrite" too."""
    if not only:
        return True
    return any(KIND == kind or KIND.startswith(f"{kind}.") for kind in only)


@server.feature(
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.CodeActionOptions(code_action_kinds=[KIND], resolve_provider=True),
)
def code_actions(ls: MlopsLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction] | None:
    if not _kind_requested(params.context.only):
        return None
    uri = params.text_document.uri
    known = ls.facts(uri)
    if known is None:
        log.info("code actions asked for %s, which is not open; none offered", uri)
        return None
    version, facts, _ = known
    found = []
    for action in registry().values():
        if not action.applies_to(facts):
            continue
        data = {"uri": uri, "version": version, "action": action.id}
        code_action = types.CodeAction(title=action.title, kind=KIND, data=data)
        if not ls.resolves_edits():
            code_action.command = types.Command(title=action.title, command=APPLY_COMMAND, arguments=[data])
        found.append(code_action)
    return found or None


NOT_OPEN = "the document is not open; open it in the editor and run the action again"


def _stale(ls: MlopsLanguageServer, uri: str, version: int | None) -> str | None:
    document = ls.open_document(uri)
    if document is None:
        return NOT_OPEN
    if document.version != version:
        return f"the document changed (version {version} -> {document.version}); nothing was applied, run the action again"
    return None


def _workspace_edit(ls: MlopsLanguageServer, uri: str, version: int | None, result: Result) -> types.WorkspaceEdit:
    edits = [
        types.TextEdit(
            range=types.Range(
                start=types.Position(line=e.start.line, character=e.start.character),
                end=types.Position(line=e.end.line, character=e.end.character),
            ),
            new_text=e.new_text,
        )
        for e in result.edits
    ]
    if ls.document_changes():
        identifier = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
        return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(text_document=identifier, edits=edits)])
    return types.WorkspaceEdit(changes={uri: edits})


class WorkDone:
    """One work-done progress shown by the client: begin, throttled reports, end, and its cancel button.

    ``report`` may be called from any thread (the engine's); everything is sent from the loop.
    """

    def __init__(self, ls: MlopsLanguageServer, token: types.ProgressToken):
        self.ls = ls
        self.token = token
        self._lock = threading.Lock()
        self._last_sent = 0.0
        self._last_kind = ""

    @classmethod
    async def start(cls, ls: MlopsLanguageServer, title: str, token: types.ProgressToken | None,
                    on_cancel: Callable[[], None]) -> WorkDone | None:
        """Begin a cancellable progress with the client's token, or one the server creates; None
        when the client shows no progress."""
        if token is None:
            token = await _create_progress_token(ls)
            if token is None:
                return None
        ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=True, message="starting"))
        # pygls cancels this future on window/workDoneProgress/cancel for the token (the cancel button)
        cancelled = ls.work_done_progress.tokens.get(token)
        if cancelled is not None:
            cancelled.add_done_callback(lambda future: on_cancel() if future.cancelled() else None)
        return cls(ls, token)

    def report(self, message: str) -> None:
        """Forward an engine's report; repeated reports of one kind (token counts) at most every 0.25 s."""
        message = redact(" ".join(str(message).split()))
        kind = re.sub(r"\d+", "#", message)
        now = time.monotonic()
        with self._lock:
            if kind == self._last_kind and now - self._last_sent < REPORT_INTERVAL_SECONDS:
                return
            self._last_kind, self._last_sent = kind, now
        self.ls._on_loop(partial(self.ls.work_done_progress.report, self.token),
                         types.WorkDoneProgressReport(message=message))

    def end(self, message: str) -> None:
        self.ls._on_loop(partial(self.ls.work_done_progress.end, self.token), types.WorkDoneProgressEnd(message=message))
        self.ls.work_done_progress.tokens.pop(self.token, None)  # pygls never forgets a token otherwise


async def _create_progress_token(ls: MlopsLanguageServer) -> types.ProgressToken | None:
    if not ls.shows_progress():
        return None
    token = f"mlops-lsp/{uuid.uuid4()}"
    try:
        await asyncio.wait_for(ls.work_done_progress.create_async(token), PROGRESS_CREATE_SECONDS)
    except TimeoutError:
        log.warning("the client did not answer window/workDoneProgress/create within %.0f s; no progress shown",
                    PROGRESS_CREATE_SECONDS)
        return None
    except Exception as exc:  # the client refused: the action runs without a progress bar
        log.warning("window/workDoneProgress/create failed: %s; no progress shown", exc)
        return None
    return token


def _in_daemon_thread(loop: asyncio.AbstractEventLoop, work: Callable[[], Result]) -> asyncio.Future[Result]:
    """Run ``work`` on a new daemon thread: a model call that ignores its cancel Event must not keep
    the server process alive after ``exit``, nor occupy the pool that serves codemod resolves."""
    future: asyncio.Future[Result] = loop.create_future()

    def deliver(outcome: Result | None, error: BaseException | None) -> None:
        if future.done():  # the caller stopped waiting (cancelled or timed out)
            if error is not None:
                log.error("abandoned model action failed: %s", error)
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(outcome)

    def main() -> None:
        try:
            outcome, error = work(), None
        except BaseException as exc:  # delivered to the caller, which reports it
            outcome, error = None, exc
        try:
            loop.call_soon_threadsafe(deliver, outcome, error)
        except RuntimeError:  # the loop closed: the server is exiting and nobody waits any more
            log.debug("model action finished after the event loop closed; its result is dropped")

    threading.Thread(target=main, name="mlops-lsp-model", daemon=True).start()
    return future


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


async def _adapt_with_model(ls: MlopsLanguageServer, source: str, action_id: str, options: Options,
                            command: CommandRequest | None, work_of: Callable[..., Result] = adapt) -> Result:
    """Run a model action: progress, cancellation, and a bound on its time. Raises CancelledError
    when the request itself was cancelled ($/cancelRequest of a resolve)."""
    loop = asyncio.get_running_loop()
    cancel = threading.Event()
    user_cancelled = asyncio.Event()

    def on_cancel() -> None:  # runs on the loop (pygls cancels futures there)
        cancel.set()
        user_cancelled.set()

    if command is not None and command.future is not None:
        command.future.add_done_callback(
            lambda future: loop.call_soon_threadsafe(on_cancel) if future.cancelled() else None
        )
    title = get(action_id).title
    progress = await WorkDone.start(ls, title, command.work_done_token if command else None, on_cancel)
    limit = model_action_seconds(options)
    ls.model_runs.add(cancel)
    work = _in_daemon_thread(
        loop, partial(work_of, source, action_id, options, cancel=cancel, progress=progress.report if progress else None)
    )
    waiting_for_user = asyncio.ensure_future(user_cancelled.wait())
    try:
        done, _ = await asyncio.wait({work, waiting_for_user}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        cancel.set()
        if progress:
            progress.end("cancelled")
        ls.tell(f"{action_id} cancelled; nothing was applied", types.MessageType.Info)
        raise
    finally:
        waiting_for_user.cancel()
        ls.model_runs.discard(cancel)
        if not work.done():
            work.cancel()  # abandoned: the thread's late result (or failure) is only logged
    if user_cancelled.is_set():
        cancel.set()
        result = Result("declined", f"{action_id} cancelled; nothing was applied")
    elif work in done and not work.cancelled():
        result = work.result()
    else:
        cancel.set()
        result = Result("declined", f"{action_id} not applied: the model did not finish within {limit:.0f} s "
                                    f"(timeout option: {options.timeout:g} s per model call)")
    if progress:
        progress.end(_one_line(redact(result.message), 120))
    return result


def _data_problem(data: Any) -> str | None:
    """Why an action's data (sent back by the client, so untrusted) cannot be run, or None."""
    if not isinstance(data, dict) or not {"uri", "version", "action"} <= data.keys():
        return "malformed code action data"
    if not isinstance(data["uri"], str) or not isinstance(data["action"], str):
        return "malformed code action data: uri and action must be strings"
    version = data["version"]
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        return "malformed code action data: version must be an integer or null"
    if data["action"] not in registry():
        return f"unknown action {_one_line(repr(data['action']), 80)}"
    return None


def _can_trim_malloc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl): nothing to trim
        return None
    return libc if hasattr(libc, "malloc_trim") else None


_LIBC = _can_trim_malloc()


def _release_memory() -> None:
    """Give the memory of a finished transform back to the system. glibc gives each worker thread
    its own arena and keeps the freed libcst trees in it: without this, RSS rose from 57 to 358 MB
    over 20 resolves of a 5,000-line script; with it, it stays near 110 MB."""
    if _LIBC is None:
        return
    gc.collect()  # libcst trees hold reference cycles: free them before trimming
    _LIBC.malloc_trim(0)


def _adapt_and_release(source: str, action_id: str, options: Options, **kwargs: Any) -> Result:
    try:
        return adapt(source, action_id, options, **kwargs)
    finally:
        _release_memory()


async def _compute(ls: MlopsLanguageServer, data: Any, command: CommandRequest | None = None
                   ) -> tuple[types.WorkspaceEdit | None, dict[str, Any]]:
    """Run the core for an action's data; an edit only if valid and the document did not move."""
    problem = _data_problem(data)
    if problem:
        return None, {"error": problem}
    uri, version, action_id = data["uri"], data["version"], data["action"]
    document = ls.open_document(uri)
    if document is None:
        return None, {"error": NOT_OPEN}
    stale = _stale(ls, uri, version)
    if stale:
        return None, {"error": stale}
    source = document.source
    options = ls.options
    work = partial(_adapt_and_release, encoding=ls.position_encoding(), filename=document.path or None)
    try:
        if uses_model(options):
            result = await _adapt_with_model(ls, source, action_id, options, command, work)
        else:
            result = await asyncio.get_running_loop().run_in_executor(ls.thread_pool, work, source, action_id, options)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # adapt does not raise; this is a bug, reported rather than hidden
        log.exception("adapt crashed")
        return None, {"error": f"internal error: {_one_line(redact(str(exc)))}"}
    info: dict[str, Any] = {"engine": result.engine, "tokens": result.tokens, "status": result.status}
    if not result.ok:
        info["error"] = _one_line(redact(result.message))
        return None, info
    stale = _stale(ls, uri, version)  # the user may have typed while we worked
    if stale:
        info["error"] = stale
        return None, info
    return _workspace_edit(ls, uri, version, result), info


@server.feature(types.CODE_ACTION_RESOLVE)
async def resolve(ls: MlopsLanguageServer, action: types.CodeAction) -> types.CodeAction:
    edit, info = await _compute(ls, action.data)
    if isinstance(action.data, dict):
        action.data = {**action.data, **info}
    if edit is None:
        ls.tell(info["error"], types.MessageType.Info if info.get("status") == "unchanged" else types.MessageType.Warning)
    else:
        action.edit = edit
    return action


@server.command(APPLY_COMMAND)
async def apply_action(ls: MlopsLanguageServer, data: Any) -> dict[str, Any]:
    command = _command_request.get()
    edit, info = await _compute(ls, data, command)
    if edit is None:
        ls.tell(info["error"], types.MessageType.Info if info.get("status") == "unchanged" else types.MessageType.Warning)
        return {"applied": False, **info}
    if command is not None and command.future is not None and command.future.cancelled():
        return {"applied": False, **info, "error": "cancelled"}
    title = registry()[data["action"]].title
    response = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label=title))
    if not response.applied:
        ls.tell(f"the editor did not apply the edit: {response.failure_reason or 'no reason given'}")
    return {"applied": response.applied, **info}


@server.feature(types.SHUTDOWN)
def shutdown(ls: MlopsLanguageServer, params: None) -> None:
    # model calls in flight stop (closing their streams, stopping a local worker) before exit
    for cancel in list(ls.model_runs):
        cancel.set()


def serve(tcp: str | None = None) -> None:
    for handler in logging.getLogger().handlers:  # stderr (the bench keeps it in server.log)
        handler.addFilter(RedactSecrets())
    if tcp:
        host, _, port = tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
