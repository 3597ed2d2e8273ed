"""A stand-in language server for the bench client's failure paths (the real server never crashes
on purpose). It offers tracking.mlflow on every document and, on resolve, exits the process when the
document contains "CRASH", never answers when it contains "HANG", and declines otherwise."""

import os
import time

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer("fake-mlops-lsp", "0")


@server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite], resolve_provider=True))
def code_actions(params: types.CodeActionParams):
    data = {"uri": params.text_document.uri, "version": 1, "action": "tracking.mlflow"}
    return [types.CodeAction(title="fake", kind=types.CodeActionKind.RefactorRewrite, data=data)]


@server.feature(types.CODE_ACTION_RESOLVE)
def resolve(action: types.CodeAction):
    text = server.workspace.get_text_document(action.data["uri"]).source
    if "CRASH" in text:
        os._exit(3)
    if "HANG" in text:
        time.sleep(3600)
    action.data = dict(action.data, error="declined by the fake server", engine="codemod")
    return action


if __name__ == "__main__":
    server.start_io()
