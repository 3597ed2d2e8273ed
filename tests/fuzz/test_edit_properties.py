"""Property-based fuzzing of the minimal edits: for any two texts (any line endings, form feeds,
U+2028, astral characters, lone surrogates) and every position encoding, the edits turn the old
text into the new one, applied by the server's applier and by an independent editor-like one."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_lsp.edits import apply_edits, minimal_edits

from .fuzzing import apply_like_an_editor

ALPHABET = st.sampled_from(["a", "b", " ", "\t", "\n", "\r", "\r\n", "\x0c", "\u2028", "é", "→", "\U0001f600", "\udc80", "\x00"])
TEXTS = st.lists(ALPHABET, max_size=40).map("".join)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(TEXTS, TEXTS, st.sampled_from(["utf-16", "utf-8", "utf-32"]))
def test_minimal_edits_reproduce_the_new_text(old, new, encoding):
    edits = minimal_edits(old, new, encoding)
    assert apply_edits(old, edits, encoding) == new
    assert apply_like_an_editor(old, edits, encoding) == new
    for edit in edits:
        assert (edit.start.line, edit.start.character) <= (edit.end.line, edit.end.character)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(TEXTS, TEXTS, TEXTS)
def test_edits_leave_a_common_head_and_tail_alone(head, middle, tail):
    old = head + "\n" + tail
    new = head + "\n" + middle + "\n" + tail
    edits = minimal_edits(old, new)
    assert apply_like_an_editor(old, edits) == new
