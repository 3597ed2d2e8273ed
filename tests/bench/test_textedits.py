import pytest
from lsprotocol import types

from mlops_lsp.bench.textedits import EditError, apply_text_edits


def edit(l1: int, c1: int, l2: int, c2: int, text: str) -> dict:
    return {"range": {"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}}, "newText": text}


def test_no_edits_is_identity():
    assert apply_text_edits("a\nb\n", []) == "a\nb\n"


def test_several_edits_refer_to_the_original_text():
    text = "import os\nx = 1\ny = 2\n"
    edits = [edit(2, 4, 2, 5, "20"), edit(0, 0, 0, 0, "import mlflow\n"), edit(1, 4, 1, 5, "10")]
    assert apply_text_edits(text, edits) == "import mlflow\nimport os\nx = 10\ny = 20\n"


def test_utf16_positions_count_astral_characters_twice():
    text = 'print("😀x")\n'
    # 'print("' is 7 units, the emoji 2 more: "x" starts at character 9.
    assert apply_text_edits(text, [edit(0, 9, 0, 10, "y")]) == 'print("😀y")\n'


def test_crlf_and_cr_line_breaks():
    text = "a\r\nb\rc\n"
    assert apply_text_edits(text, [edit(1, 0, 1, 1, "B"), edit(2, 0, 2, 1, "C")]) == "a\r\nB\rC\n"


def test_character_past_end_of_line_clamps_before_the_break():
    assert apply_text_edits("ab\r\ncd", [edit(0, 99, 0, 99, "!")]) == "ab!\r\ncd"


def test_line_past_the_end_means_end_of_text():
    assert apply_text_edits("ab\n", [edit(7, 0, 7, 0, "tail\n")]) == "ab\ntail\n"


def test_whole_document_replacement():
    assert apply_text_edits("old\ntext\n", [edit(0, 0, 2, 0, "new\n")]) == "new\n"


def test_inserts_at_one_position_keep_list_order():
    text = "x\n"
    edits = [edit(0, 0, 0, 0, "a"), edit(0, 0, 0, 0, "b"), edit(0, 0, 0, 0, "c")]
    assert apply_text_edits(text, edits) == "abcx\n"


def test_insert_at_start_of_a_replacement_goes_first():
    assert apply_text_edits("hello\n", [edit(0, 0, 0, 5, "bye"), edit(0, 0, 0, 0, ">")]) == ">bye\n"


def test_overlapping_edits_are_rejected():
    with pytest.raises(EditError):
        apply_text_edits("abcdef", [edit(0, 0, 0, 3, "x"), edit(0, 2, 0, 4, "y")])


def test_malformed_edits_are_rejected():
    with pytest.raises(EditError):
        apply_text_edits("abc", [{"range": {"start": {"line": -1, "character": 0}, "end": {"line": 0, "character": 0}}, "newText": ""}])
    with pytest.raises(EditError):
        apply_text_edits("abc", [edit(0, 2, 0, 1, "")])


def test_lsprotocol_objects_are_accepted():
    text_edit = types.TextEdit(
        range=types.Range(start=types.Position(line=0, character=1), end=types.Position(line=0, character=2)),
        new_text="B",
    )
    assert apply_text_edits("abc", [text_edit]) == "aBc"
