from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_lsp.edits import Position, TextEdit, apply_edits, minimal_edits

pieces = st.sampled_from(["a", "b", "x = 1", "\n", "\r\n", "\r", "é", "😀", "\t", " ", "#"])
texts = st.lists(pieces, max_size=30).map("".join)


@settings(max_examples=500)
@given(texts, texts)
def test_edits_turn_old_into_new(old, new):
    assert apply_edits(old, minimal_edits(old, new)) == new


def test_unchanged_text_has_no_edits():
    assert minimal_edits("a\nb\n", "a\nb\n") == []


def test_insertion_touches_only_the_new_line():
    old = "import os\n\nprint(os.sep)\n"
    new = "import os\nimport mlflow\n\nprint(os.sep)\n"
    assert minimal_edits(old, new) == [TextEdit(Position(1, 0), Position(1, 0), "import mlflow\n")]


def test_crlf_kept_and_positions_in_utf16():
    old = "s = '😀'\r\nfit()\r\n"
    new = "s = '😀'\r\nwith run():\r\n    fit()\r\n"
    edits = minimal_edits(old, new)
    assert apply_edits(old, edits) == new
    assert all("\n" not in e.new_text or "\r\n" in e.new_text for e in edits)
    # the emoji counts as two UTF-16 code units
    assert minimal_edits("😀a", "😀b") == [TextEdit(Position(0, 2), Position(0, 3), "b")]
