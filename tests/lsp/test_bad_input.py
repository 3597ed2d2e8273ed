"""Bad input through the real client and the real server (stdio): each input gets a one-line
message and either no edit or a correct one, and the server keeps serving afterwards.

"Correct" is checked on the client side: the edits are applied the way the LSP specification says
an editor applies them (``apply_like_an_editor``: lines end at \\n, \\r\\n or \\r only; positions in
the negotiated encoding), and the result must parse and keep every untouched line byte for byte.
"""

from __future__ import annotations

import ast
import asyncio
import copy
import re
import time
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from .helpers import SERVER_COMMAND, edits_of, list_actions, open_document

ROOT = Path(__file__).resolve().parents[2]
URI = "file:///tmp/mlops-lsp-bad-input/train.py"
MLFLOW = "tracking.mlflow"


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


def _utf8_capabilities() -> types.ClientCapabilities:
    """A client that prefers UTF-8 positions, as Neovim (0.10+) and Helix announce."""
    capabilities = copy.deepcopy(client_capabilities("visual-studio-code"))
    capabilities.general = types.GeneralClientCapabilities(
        position_encodings=[types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf16]
    )
    return capabilities


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def utf8_client(lsp_client: LanguageClient):
    result = await lsp_client.initialize_session(
        types.InitializeParams(capabilities=_utf8_capabilities(), initialization_options={"strategy": "codemod"})
    )
    lsp_client.position_encoding = result.capabilities.position_encoding or types.PositionEncodingKind.Utf16
    yield
    await lsp_client.shutdown_session()


# -- client-side helpers --------------------------------------------------------------------------


def _units(char: str, encoding: str) -> int:
    if encoding == types.PositionEncodingKind.Utf8:
        return len(char.encode("utf-8", "surrogatepass"))
    if encoding == types.PositionEncodingKind.Utf32:
        return 1
    return len(char.encode("utf-16-le", "surrogatepass")) // 2


def apply_like_an_editor(text: str, edits: list[types.TextEdit], encoding: str = "utf-16") -> str:
    """Apply edits as an LSP editor does; independent of the server's code and of pygls' document
    model (which splits lines at form feeds and U+2028 too)."""
    lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z", text)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(position: types.Position) -> int:
        if position.line >= len(lines):
            return starts[-1]
        content, units = lines[position.line].rstrip("\r\n"), 0
        for index, char in enumerate(content):
            if units >= position.character:
                return starts[position.line] + index
            units += _units(char, encoding)
        return starts[position.line] + len(content)

    spans = sorted(((offset(e.range.start), offset(e.range.end), e.new_text) for e in edits), key=lambda s: s[:2])
    for start, end, new_text in reversed(spans):
        text = text[:start] + new_text + text[end:]
    return text


def one_line_messages(client: LanguageClient) -> list[str]:
    for message in client.messages:
        assert "\n" not in message.message.strip(), f"multi-line message: {message.message!r}"
    return [m.message for m in client.messages]


async def resolve(client: LanguageClient, uri: str, action_id: str, version: int | None = 1) -> types.CodeAction:
    action = types.CodeAction(title=action_id, kind=types.CodeActionKind.RefactorRewrite,
                              data={"uri": uri, "version": version, "action": action_id})
    return await client.code_action_resolve_async(action)


async def assert_alive(client: LanguageClient, sklearn_source: str) -> None:
    uri = f"file:///tmp/mlops-lsp-bad-input/alive-{time.monotonic_ns()}.py"
    open_document(client, uri, sklearn_source)
    listed = await asyncio.wait_for(list_actions(client, uri), timeout=30)
    assert MLFLOW in {a.data["action"] for a in listed}


def check_no_edit_one_line(resolved: types.CodeAction) -> str:
    assert resolved.edit is None, resolved.data
    error = resolved.data["error"]
    assert error and "\n" not in error
    return error


def check_untouched_lines_kept(original: str, adapted: str, edits: list[types.TextEdit]) -> None:
    """Every original line outside the edited ranges is in the result, byte for byte, in order."""
    touched = {line for e in edits for line in range(e.range.start.line, e.range.end.line + 1)}
    kept = [line for i, line in enumerate(re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z", original)) if i not in touched]
    rest = adapted
    for line in kept:
        index = rest.find(line)
        assert index >= 0, f"untouched line changed or lost: {line!r}"
        rest = rest[index + len(line):]


# -- inputs ---------------------------------------------------------------------------------------

SYNTAX_ERRORS = {
    "unclosed parenthesis": lambda s: s.replace("def main() -> None:", "def main( -> None:"),
    "unterminated string": lambda s: s.replace('print(f"test accuracy', 'print(f"test accuracy\n'),
    "bad indentation": lambda s: s.replace("    model.fit(", "      model.fit(", 1),
    "truncated mid-statement": lambda s: s[: s.index("model.fit(") + len("model.fit(")],
    "python 2 print": lambda s: s + '\nprint "done"\n',
}


async def test_syntax_errors_decline_with_one_line(client: LanguageClient, sklearn_source: str):
    for number, (name, breaker) in enumerate(SYNTAX_ERRORS.items()):
        uri = f"file:///tmp/mlops-lsp-bad-input/broken{number}.py"
        open_document(client, uri, breaker(sklearn_source))
        listed = await list_actions(client, uri)  # listing is regex-based: still offered
        assert listed, name
        resolved = await client.code_action_resolve_async(listed[0])
        assert "syntax error" in check_no_edit_one_line(resolved), name
    one_line_messages(client)
    await assert_alive(client, sklearn_source)


def long_script(lines: int) -> str:
    helper = '\n\ndef feature_{i}(x, scale={i}):\n    """Helper {i}."""\n    y = np.asarray(x, dtype=float) * scale\n    return y + {i}\n'
    head = ROOT.joinpath("examples", "sklearn_train.py").read_text(encoding="utf-8")
    head, _, tail = head.partition("\n\ndef main()")
    body = [head.replace("import pickle\n", "import pickle\n\nimport numpy as np\n")]
    count = 0
    while sum(chunk.count("\n") for chunk in body) < lines - 30:
        body.append(helper.format(i=count))
        count += 1
    return "".join(body) + "\n\ndef main()" + tail


async def test_20000_line_file_lists_fast_and_resolves_or_declines(client: LanguageClient, sklearn_source: str):
    source = long_script(20_000)
    assert source.count("\n") >= 19_900
    open_document(client, URI, source)
    await list_actions(client, URI)  # the first listing runs detection once for this version
    started = time.perf_counter()
    for _ in range(5):
        listed = await list_actions(client, URI)
    assert (time.perf_counter() - started) / 5 < 0.5, "listing a 20,000-line file must stay fast"
    (action,) = [a for a in listed if a.data["action"] == MLFLOW]
    resolved = await asyncio.wait_for(client.code_action_resolve_async(action), timeout=120)
    if resolved.edit is None:
        check_no_edit_one_line(resolved)
    else:
        edits, version = edits_of(resolved.edit, URI)
        assert version == 1
        adapted = apply_like_an_editor(source, edits)
        ast.parse(adapted)
        assert "mlflow" in adapted
        check_untouched_lines_kept(source, adapted, edits)
    one_line_messages(client)
    await assert_alive(client, sklearn_source)


ODD_TEXT = {
    # JSON carries a lone surrogate as "\udc80"; Python decodes it into the str as is
    "lone surrogate in a string": lambda s: s.replace('"wb"', '"wb\udc80"'),
    "NUL character": lambda s: s.replace("import pickle", "import pickle\x00"),
    "byte order mark": lambda s: "\ufeff" + s,
    "U+2028 in a comment": lambda s: s.replace("def main()", "# line\u2028separator\ndef main()"),
    "form feed between functions": lambda s: s.replace('\n\nif __name__', '\n\x0c\nif __name__'),
    "astral characters before the edit": lambda s: s.replace('print(f"test accuracy', 'print(f"\U0001f600 accuracy'),
}


@pytest.mark.parametrize("name", sorted(ODD_TEXT))
async def test_odd_characters_give_a_correct_edit_or_one_line(client: LanguageClient, sklearn_source: str, name: str):
    source = ODD_TEXT[name](sklearn_source)
    open_document(client, URI, source)
    resolved = await resolve(client, URI, MLFLOW)
    if resolved.edit is None:
        check_no_edit_one_line(resolved)
    else:
        edits, _ = edits_of(resolved.edit, URI)
        adapted = apply_like_an_editor(source, edits)
        compile(adapted.removeprefix("\ufeff"), "adapted", "exec")
        assert adapted.startswith("\ufeff") == source.startswith("\ufeff"), "the byte order mark moved"
        check_untouched_lines_kept(source, adapted, edits)
    one_line_messages(client)
    await assert_alive(client, sklearn_source)


@pytest.mark.parametrize("style", ["crlf", "tabs", "crlf+tabs", "mixed line ends"])
async def test_line_endings_and_tabs_are_kept(client: LanguageClient, sklearn_source: str, style: str):
    source = sklearn_source
    if "tabs" in style:
        source = re.sub(r"(?m)^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), source)
    if "crlf" in style:
        source = source.replace("\n", "\r\n")
    if style == "mixed line ends":  # the header in CRLF, the rest in LF (a file edited on two systems)
        head, _, rest = source.partition("\n\n\ndef main")
        source = head.replace("\n", "\r\n") + "\n\n\ndef main" + rest
    open_document(client, URI, source)
    resolved = await resolve(client, URI, MLFLOW)
    assert resolved.edit is not None, resolved.data
    edits, _ = edits_of(resolved.edit, URI)
    adapted = apply_like_an_editor(source, edits)
    ast.parse(adapted)
    check_untouched_lines_kept(source, adapted, edits)
    if style != "mixed line ends":
        new_ends = set(re.findall(r"\r\n|\r|\n", adapted))
        assert new_ends == set(re.findall(r"\r\n|\r|\n", source)), "new lines use another line ending"
    if "tabs" in style:
        assert not re.search(r"(?m)^ +\S", adapted), "new lines indented with spaces in a tab-indented file"


NOTEBOOK = "file:///tmp/mlops-lsp-bad-input/analysis.ipynb"
CELL = "vscode-notebook-cell:/tmp/mlops-lsp-bad-input/analysis.ipynb#W1sZmlsZQ%3D%3D"
CELL2 = "vscode-notebook-cell:/tmp/mlops-lsp-bad-input/analysis.ipynb#W2sZmlsZQ%3D%3D"


async def test_notebook_cell_documents(client: LanguageClient, sklearn_source: str):
    imports, _, training = sklearn_source.partition("\n\ndef main()")
    # as VS Code sends cells to a server without notebook sync: text documents with cell URIs
    open_document(client, CELL, sklearn_source)
    # and as a notebook-aware client sends them: notebookDocument/didOpen with the cells' text
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=NOTEBOOK, notebook_type="jupyter-notebook", version=1,
                cells=[types.NotebookCell(kind=types.NotebookCellKind.Code, document=CELL2)],
            ),
            cell_text_documents=[types.TextDocumentItem(uri=CELL2, language_id="python", version=1,
                                                        text="def main()" + training)],
        )
    )
    for uri, source in ((CELL, sklearn_source), (CELL2, "def main()" + training)):
        listed = await list_actions(client, uri)
        for action in listed:
            resolved = await client.code_action_resolve_async(action)
            if resolved.edit is None:
                check_no_edit_one_line(resolved)
            else:
                edits, _ = edits_of(resolved.edit, uri)
                ast.parse(apply_like_an_editor(source, edits))
        resolved = await resolve(client, uri, MLFLOW)
        if resolved.edit is None:
            check_no_edit_one_line(resolved)
    one_line_messages(client)
    await assert_alive(client, sklearn_source)


async def test_document_changed_during_a_slow_resolve_gets_no_stale_edit(client: LanguageClient, sklearn_source: str):
    source = long_script(20_000)  # a resolve that takes long enough to type during it
    open_document(client, URI, source, version=1)
    (action,) = [a for a in await list_actions(client, URI) if a.data["action"] == MLFLOW]
    pending = asyncio.ensure_future(client.code_action_resolve_async(action))
    await asyncio.sleep(0.3)  # the server is working on version 1
    assert not pending.done(), "the resolve was too fast to test typing during it"
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
                text="# typed while the action ran\n",
            )],
        )
    )
    resolved = await asyncio.wait_for(pending, timeout=120)
    if resolved.edit is None:
        assert "changed" in check_no_edit_one_line(resolved)
    else:  # an edit is only acceptable pinned to the old version, which the editor then refuses
        _, version = edits_of(resolved.edit, URI)
        assert version == 1
    one_line_messages(client)
    await assert_alive(client, sklearn_source)


async def test_incremental_change_after_a_form_feed_keeps_the_server_copy_right(client: LanguageClient, sklearn_source: str):
    """The editor counts lines at \\n, \\r\\n and \\r only; a form feed (legal Python whitespace) or
    U+2028 must not shift where the server applies an incremental change."""
    source = sklearn_source.replace("import pickle\n", "import pickle\n\x0c\n# page two\u2028still a comment\n")
    open_document(client, URI, source, version=1)
    lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z", source)
    line = next(i for i, text in enumerate(lines) if "random_state=0,\n" in text)
    change = types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(line=line, character=8), end=types.Position(line=line, character=22)),
        text="random_state=1",
    )
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2), content_changes=[change]))
    expected = apply_like_an_editor(source, [types.TextEdit(range=change.range, new_text=change.text)])
    assert "random_state=1,\n" in expected
    resolved = await resolve(client, URI, MLFLOW, version=2)
    assert resolved.edit is not None, resolved.data
    edits, _ = edits_of(resolved.edit, URI)
    adapted = apply_like_an_editor(expected, edits)
    ast.parse(adapted)
    assert "random_state=1," in adapted and "random_state=0," not in adapted
    check_untouched_lines_kept(expected, adapted, edits)


async def test_utf8_position_encoding_gives_correct_edits(utf8_client: LanguageClient):
    """A client may negotiate UTF-8 positions; edits after non-ASCII text must still land right."""
    source = (ROOT / "dataset" / "git-data-branches" / "train.py").read_text(encoding="utf-8")
    source = source.replace("# through the LFS clean filter", "# données → через the LFS clean filter")
    open_document(utf8_client, URI, source)
    resolved = await resolve(utf8_client, URI, "translate.gitpython-dvc")
    assert resolved.edit is not None, resolved.data
    edits, _ = edits_of(resolved.edit, URI)
    adapted = apply_like_an_editor(source, edits, utf8_client.position_encoding)
    ast.parse(adapted)
    assert "dvc_add(repo, DATA_FILE)  # données → через the DVC clean filter\n" in adapted


async def test_not_a_training_script(client: LanguageClient, sklearn_source: str):
    uri = "file:///tmp/mlops-lsp-bad-input/notes.py"
    source = "import os\nimport sklearn\n\nprint(os.getcwd(), sklearn.__version__)\n"
    open_document(client, uri, source)
    assert await list_actions(client, uri) == []
    error = check_no_edit_one_line(await resolve(client, uri, MLFLOW))
    assert "training script" in error
    one_line_messages(client)
    await assert_alive(client, sklearn_source)


GARBAGE_DATA = {
    "unknown action": {"uri": URI, "version": 1, "action": "tracking.nonexistent"},
    "no data": None,
    "a string": "tracking.mlflow",
    "missing keys": {"uri": URI},
    "wrong types": {"uri": URI, "version": "one", "action": ["tracking.mlflow"]},
    "uri of a number": {"uri": 5, "version": 1, "action": MLFLOW},
    "document never opened": {"uri": "file:///tmp/mlops-lsp-bad-input/never-opened.py", "version": 1, "action": MLFLOW},
    "unopened file, no version": {"uri": "file:///tmp/mlops-lsp-bad-input/never-opened.py", "version": None, "action": MLFLOW},
    "unopened notebook cell": {"uri": "vscode-notebook-cell:/nowhere.ipynb#X", "version": None, "action": MLFLOW},
}


@pytest.mark.parametrize("name", sorted(GARBAGE_DATA))
async def test_garbage_resolve_data(client: LanguageClient, sklearn_source: str, name: str):
    open_document(client, URI, sklearn_source)
    action = types.CodeAction(title="MLOps", kind=types.CodeActionKind.RefactorRewrite, data=GARBAGE_DATA[name])
    resolved = await client.code_action_resolve_async(action)  # a JSON-RPC error would raise here
    assert resolved.edit is None
    if isinstance(resolved.data, dict):
        check_no_edit_one_line(resolved)
    assert client.messages, "the user is told why nothing happened"
    one_line_messages(client)
    await assert_alive(client, sklearn_source)
