"""Minimal text edits between two versions of a document, in LSP coordinates.

Lines are split on the LSP line terminators only (\\n, \\r\\n, \\r); characters are counted in UTF-16
code units, the LSP default, or in the position encoding the client negotiated ("utf-8", "utf-32").
Each changed hunk of lines becomes one edit, trimmed to the characters that really differ, so
line endings and untouched text are never rewritten.
"""

from __future__ import annotations

import bisect
import difflib
import re
from dataclasses import dataclass

_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


@dataclass(frozen=True)
class Position:
    line: int
    character: int  # UTF-16 code units


@dataclass(frozen=True)
class TextEdit:
    start: Position
    end: Position
    new_text: str


def split_lines(text: str) -> list[str]:
    return _LINE.findall(text)


UTF16 = "utf-16"  # the LSP default position encoding


def _units(text: str, encoding: str) -> int:
    """Length of ``text`` in the code units of a position encoding ("utf-8", "utf-16", "utf-32").
    Lone surrogates (JSON can carry them) count as one unit each, as editors count them."""
    if encoding == "utf-32":
        return len(text)
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _utf16_len(text: str) -> int:
    return _units(text, UTF16)


class _Index:
    """Offset <-> position conversion for one text."""

    def __init__(self, text: str, encoding: str = UTF16) -> None:
        self.text = text
        self.encoding = encoding
        self.lines = split_lines(text)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def position(self, offset: int) -> Position:
        if offset >= len(self.text):
            if not self.lines or self.lines[-1].endswith(("\n", "\r")):
                return Position(len(self.lines), 0)
            return Position(len(self.lines) - 1, _units(self.lines[-1], self.encoding))
        line = bisect.bisect_right(self.starts, offset) - 1
        return Position(line, _units(self.text[self.starts[line] : offset], self.encoding))

    def offset(self, position: Position) -> int:
        if position.line >= len(self.lines):
            return len(self.text)
        line = self.lines[position.line]
        content = line.rstrip("\r\n")
        units = 0
        for i, ch in enumerate(content):
            if units >= position.character:
                return self.starts[position.line] + i
            units += _units(ch, self.encoding)
        return self.starts[position.line] + len(content)


def _trim(old: str, new: str) -> tuple[int, int]:
    """Lengths of the common prefix and suffix of old/new; a cut never falls inside a \r\n pair."""
    limit = min(len(old), len(new))
    prefix = 0
    while prefix < limit and old[prefix] == new[prefix]:
        prefix += 1
    if old[prefix - 1 : prefix + 1] == "\r\n":
        prefix -= 1
    suffix = 0
    while suffix < limit - prefix and old[-1 - suffix] == new[-1 - suffix]:
        suffix += 1
    cut = len(old) - suffix
    if suffix and old[cut - 1 : cut + 1] == "\r\n":
        suffix -= 1
    return prefix, suffix


def minimal_edits(old: str, new: str, encoding: str = UTF16) -> list[TextEdit]:
    """Edits that turn ``old`` into ``new``, ordered by position, non-overlapping; characters
    counted in ``encoding``, the position encoding negotiated with the client."""
    if old == new:
        return []
    index = _Index(old, encoding)
    a, b = index.lines, split_lines(new)
    # the unchanged head and tail are cut off before diffing: SequenceMatcher is quadratic
    # in the worst case, and most of a long file is unchanged
    head = 0
    while head < min(len(a), len(b)) and a[head] == b[head]:
        head += 1
    tail = 0
    while tail < min(len(a), len(b)) - head and a[-1 - tail] == b[-1 - tail]:
        tail += 1
    matcher = difflib.SequenceMatcher(None, a[head : len(a) - tail], b[head : len(b) - tail])
    edits: list[TextEdit] = []
    b_starts = [0]
    for line in b:
        b_starts.append(b_starts[-1] + len(line))
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        i1, i2, j1, j2 = i1 + head, i2 + head, j1 + head, j2 + head
        start, end = index.starts[i1], index.starts[i2]
        old_text, new_text = old[start:end], new[b_starts[j1] : b_starts[j2]]
        prefix, suffix = _trim(old_text, new_text)
        edits.append(
            TextEdit(
                start=index.position(start + prefix),
                end=index.position(end - suffix),
                new_text=new_text[prefix : len(new_text) - suffix],
            )
        )
    return edits


class EditError(ValueError):
    """Edits that cannot be applied (overlapping or inverted ranges)."""


def apply_edits(text: str, edits: list[TextEdit], encoding: str = UTF16) -> str:
    """Apply edits that all refer to ``text``, as an editor does: a position past the end of its
    line means the end of that line; inserts at one position keep their list order, before a
    replacement starting there (as VS Code does); overlapping ranges are an error."""
    index = _Index(text, encoding)
    spans = []
    for number, edit in enumerate(edits):
        start, end = index.offset(edit.start), index.offset(edit.end)
        if end < start:
            raise EditError(f"edit #{number} ends before it starts")
        spans.append((start, end, number, edit.new_text))
    spans.sort(key=lambda span: span[:3])
    for previous, current in zip(spans, spans[1:]):
        if current[0] < previous[1]:
            raise EditError(f"edits #{previous[2]} and #{current[2]} overlap")
    for start, end, _, new_text in reversed(spans):  # bottom-up: earlier offsets stay valid
        text = text[:start] + new_text + text[end:]
    return text
