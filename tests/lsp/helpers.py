"""Shared pieces of the end-to-end tests: documents, and applying edits the way a client does."""

from __future__ import annotations

import sys

from lsprotocol import types
from pygls.workspace import TextDocument

SERVER_COMMAND = [sys.executable, "-m", "mlops_lsp", "serve"]


def apply_text_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP TextEdits with pygls' own document model (independent of the server's code)."""
    document = TextDocument("file:///tmp/x.py", text)
    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        document.apply_change(types.TextDocumentContentChangePartial(range=edit.range, text=edit.new_text))
    return document.source


def edits_of(edit: types.WorkspaceEdit, uri: str) -> tuple[list[types.TextEdit], int | None]:
    if edit.document_changes:
        (change,) = edit.document_changes
        assert change.text_document.uri == uri
        return list(change.edits), change.text_document.version
    return list(edit.changes[uri]), None


def open_document(client, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text)
        )
    )


async def list_actions(client, uri: str, only: list[str] | None = None) -> list[types.CodeAction]:
    result = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
            context=types.CodeActionContext(diagnostics=[], only=only),
        )
    )
    return [a for a in result or [] if isinstance(a, types.CodeAction)]


def parse_code_actions_correctly(client) -> None:
    """lsprotocol's client-side hook reads any item with a "command" key as a Command, which loses
    a CodeAction that carries a command (the no-resolve fallback). Tell them apart by the type of
    "command", as the specification does."""
    from typing import Union

    converter = client.protocol._converter

    def hook(obj, _):
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], hook)
