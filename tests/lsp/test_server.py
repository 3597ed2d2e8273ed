"""End to end: the real server in a subprocess over stdio, driven by pytest-lsp's real client."""

from __future__ import annotations

import ast
import copy

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from .helpers import SERVER_COMMAND, apply_text_edits, edits_of, list_actions, open_document, parse_code_actions_correctly

MLFLOW_TITLE = "MLOps: Add MLflow experiment tracking"
URI = "file:///tmp/mlops-lsp-test/train.py"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"),
            initialization_options={"strategy": "codemod"},
        )
    )
    yield
    await lsp_client.shutdown_session()


def _without_resolve() -> types.ClientCapabilities:
    capabilities = copy.deepcopy(client_capabilities("visual-studio-code"))
    capabilities.text_document.code_action.resolve_support = None
    capabilities.workspace.workspace_edit.document_changes = False
    return capabilities


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def plain_client(lsp_client: LanguageClient):
    lsp_client.applied_edits = []
    parse_code_actions_correctly(lsp_client)

    @lsp_client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        lsp_client.applied_edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    await lsp_client.initialize_session(types.InitializeParams(capabilities=_without_resolve()))
    yield
    await lsp_client.shutdown_session()


async def test_sklearn_script_lists_mlflow_action_lazily(client: LanguageClient, sklearn_source: str):
    open_document(client, URI, sklearn_source)
    actions = await list_actions(client, URI)
    by_title = {a.title: a for a in actions}
    assert MLFLOW_TITLE in by_title
    action = by_title[MLFLOW_TITLE]
    assert action.kind == types.CodeActionKind.RefactorRewrite
    assert action.edit is None  # computed on resolve
    assert action.data == {"uri": URI, "version": 1, "action": "tracking.mlflow"}
    # nothing for actions that do not fit scikit-learn
    assert not any("pruning" in a.data["action"] or "translate" in a.data["action"] for a in actions)


async def test_resolve_gives_version_pinned_minimal_edit(client: LanguageClient, sklearn_source: str):
    open_document(client, URI, sklearn_source, version=7)
    (action,) = [a for a in await list_actions(client, URI) if a.title == MLFLOW_TITLE]
    resolved = await client.code_action_resolve_async(action)
    assert resolved.edit is not None, resolved.data
    edits, version = edits_of(resolved.edit, URI)
    assert version == 7
    # minimal: no edit rewrites the file from the top
    assert all(e.range.start.line > 0 for e in edits)
    adapted = apply_text_edits(sklearn_source, edits)
    tree = ast.parse(adapted)
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "mlflow" in imported
    assert "mlflow.start_run()" in adapted and "mlflow.sklearn.autolog()" in adapted
    assert resolved.data["engine"] == "codemod"


async def test_context_only_is_honoured(client: LanguageClient, sklearn_source: str):
    open_document(client, URI, sklearn_source)
    assert await list_actions(client, URI, only=[types.CodeActionKind.QuickFix]) == []
    assert await list_actions(client, URI, only=[types.CodeActionKind.Refactor])
    assert await list_actions(client, URI, only=[types.CodeActionKind.RefactorRewrite])


async def test_plain_python_file_gets_no_actions(client: LanguageClient):
    uri = "file:///tmp/mlops-lsp-test/util.py"
    open_document(client, uri, "import os\n\n\ndef size(path):\n    return os.path.getsize(path)\n")
    assert await list_actions(client, uri) == []


async def test_syntax_error_gets_a_message_and_no_edit(client: LanguageClient, sklearn_source: str):
    broken = sklearn_source.replace("def main() -> None:", "def main( -> None:")
    open_document(client, URI, broken)
    actions = await list_actions(client, URI)
    for action in actions:
        resolved = await client.code_action_resolve_async(action)
        assert resolved.edit is None
        assert "syntax error" in resolved.data["error"]
    assert any("syntax error" in m.message for m in client.messages)
    # the server is still alive and serving
    open_document(client, "file:///tmp/mlops-lsp-test/ok.py", sklearn_source)
    assert await list_actions(client, "file:///tmp/mlops-lsp-test/ok.py")


async def test_stale_version_gets_no_edit(client: LanguageClient, sklearn_source: str):
    open_document(client, URI, sklearn_source, version=1)
    (action,) = [a for a in await list_actions(client, URI) if a.title == MLFLOW_TITLE]
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=sklearn_source + "\n# edited\n")],
        )
    )
    resolved = await client.code_action_resolve_async(action)
    assert resolved.edit is None
    assert "changed" in resolved.data["error"]
    assert any("changed" in m.message for m in client.messages)


async def test_client_without_resolve_gets_command_then_apply_edit(plain_client: LanguageClient, sklearn_source: str):
    open_document(plain_client, URI, sklearn_source, version=3)
    (action,) = [a for a in await list_actions(plain_client, URI) if a.title == MLFLOW_TITLE]
    assert action.command is not None and action.command.command == "mlops-lsp.applyAction"
    result = await plain_client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=action.command.command, arguments=action.command.arguments)
    )
    assert result["applied"] is True
    (applied,) = plain_client.applied_edits
    edits, _ = edits_of(applied.edit, URI)  # `changes` form: this client has no documentChanges
    adapted = apply_text_edits(sklearn_source, edits)
    ast.parse(adapted)
    assert "mlflow.start_run()" in adapted


async def test_already_tracked_script_is_left_alone(client: LanguageClient, sklearn_source: str):
    tracked = sklearn_source.replace("import pickle\n", "import pickle\n\nimport mlflow\n").replace(
        "    model.fit(X_train, y_train)\n", "    mlflow.sklearn.autolog()\n    model.fit(X_train, y_train)\n"
    )
    open_document(client, URI, tracked)
    (action,) = [a for a in await list_actions(client, URI) if a.title == MLFLOW_TITLE]
    resolved = await client.code_action_resolve_async(action)
    assert resolved.edit is None
    assert "already uses MLflow" in resolved.data["error"]
