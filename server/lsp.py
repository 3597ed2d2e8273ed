"""The language server: the one module that bridges the core to LSP.

Listing code actions is cheap (regex detection, cached per document version); the edit is computed
lazily in ``codeAction/resolve`` (or in the ``mlops-lsp.applyAction`` command for clients that
cannot resolve edits) on a worker thread, so listing never waits for a transform. An edit is only
returned when the document still has the version the action was listed for.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from . import __version__
from .actions import registry
from .core import Result, adapt
from .detect import DocumentFacts, detect
from .options import Options, from_pyproject, merge

log = logging.getLogger("mlops_lsp")

APPLY_COMMAND = "mlops-lsp.applyAction"
CONFIG_SECTION = "mlops-lsp"
KIND = types.CodeActionKind.RefactorRewrite


class MlopsLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("mlops-lsp", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.options = Options()
        self._base_options = Options()  # defaults + pyproject + initializationOptions
        self._facts: dict[str, tuple[int | None, DocumentFacts]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

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

    # -- messages ---------------------------------------------------------------------------------
    def tell(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """A one-line message for the user (and the log)."""
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
    def facts(self, uri: str) -> tuple[int | None, DocumentFacts, str]:
        document = self.workspace.get_text_document(uri)
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
    ls._base_options = ls.options = options
    for problem in problems:
        ls.tell(problem)
    log.info("mlops-lsp %s started; options: %s", __version__, options)


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
    version, facts, _ = ls.facts(uri)
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


def _stale(ls: MlopsLanguageServer, uri: str, version: int | None) -> str | None:
    document = ls.workspace.get_text_document(uri)
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


async def _compute(ls: MlopsLanguageServer, data: Any) -> tuple[types.WorkspaceEdit | None, dict[str, Any]]:
    """Run the core for an action's data; an edit only if valid and the document did not move."""
    if not isinstance(data, dict) or not {"uri", "version", "action"} <= data.keys():
        return None, {"error": "malformed code action data"}
    uri, version, action_id = data["uri"], data["version"], data["action"]
    stale = _stale(ls, uri, version)
    if stale:
        return None, {"error": stale}
    source = ls.workspace.get_text_document(uri).source
    options = ls.options
    try:
        result = await asyncio.get_running_loop().run_in_executor(ls.thread_pool, adapt, source, action_id, options)
    except Exception as exc:  # adapt does not raise; this is a bug, reported rather than hidden
        log.exception("adapt crashed")
        return None, {"error": f"internal error: {exc}"}
    info: dict[str, Any] = {"engine": result.engine, "tokens": result.tokens, "status": result.status}
    if not result.ok:
        info["error"] = result.message
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
    edit, info = await _compute(ls, data)
    if edit is None:
        ls.tell(info["error"])
        return {"applied": False, **info}
    title = registry()[data["action"]].title
    response = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label=title))
    if not response.applied:
        ls.tell(f"the editor did not apply the edit: {response.failure_reason or 'no reason given'}")
    return {"applied": response.applied, **info}


def serve(tcp: str | None = None) -> None:
    if tcp:
        host, _, port = tcp.rpartition(":")
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
