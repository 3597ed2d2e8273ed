"""Applying LSP TextEdits to a string, the way an editor does.

Positions are (line, character) with ``character`` counted in UTF-16 code units (the LSP default
position encoding). Line breaks are ``\\n``, ``\\r\\n`` and ``\\r``. A character past the end of its
line means the end of the line, a line past the last line means the end of the text. All edits of
one call refer to the ORIGINAL text; ranges must not overlap; several inserts at the same position
are applied in the order they appear in the list (LSP spec), and an insert at the start of a replaced
range goes before the replacement (as VS Code does).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

LINE_BREAK = re.compile(r"\r\n|\r|\n")


class EditError(ValueError):
    """Edits that cannot be applied (overlapping ranges, malformed positions)."""


def _line_starts(text: str) -> list[int]:
    """Offsets (in str indices) where each line begins."""
    return [0] + [m.end() for m in LINE_BREAK.finditer(text)]


def _line_end(text: str, starts: list[int], line: int) -> int:
    """Offset of the end of ``line``'s content, before its line break."""
    if line + 1 < len(starts):
        end = starts[line + 1]
        # Step back over the line break (\r\n counts as one break).
        if text[end - 2 : end] == "\r\n":
            return end - 2
        return end - 1
    return len(text)


def _offset(text: str, starts: list[int], position: Mapping[str, Any]) -> int:
    line, character = position.get("line"), position.get("character")
    if not isinstance(line, int) or not isinstance(character, int) or line < 0 or character < 0:
        raise EditError(f"bad position {dict(position)!r}")
    if line >= len(starts):
        return len(text)
    start, end = starts[line], _line_end(text, starts, line)
    units = 0
    for index in range(start, end):
        if units >= character:
            return index
        units += 2 if ord(text[index]) > 0xFFFF else 1
    # Past the end of the line (or in the middle of a surrogate pair at the end): end of line.
    return end


def _as_dict(value: Any) -> Mapping[str, Any]:
    """Accept both plain JSON objects and lsprotocol attrs objects."""
    if isinstance(value, Mapping):
        return value
    return {name: getattr(value, name) for name in ("range", "start", "end", "line", "character", "new_text") if hasattr(value, name)}


def apply_text_edits(text: str, edits: Sequence[Any]) -> str:
    """Apply LSP TextEdits (JSON dicts with ``range``/``newText`` or lsprotocol ``TextEdit``s)."""
    starts = _line_starts(text)
    spans: list[tuple[int, int, int, str]] = []  # (start, end, index in list, new text)
    for index, edit in enumerate(edits):
        fields = _as_dict(edit)
        new_text = fields.get("newText", fields.get("new_text"))
        rng = _as_dict(fields.get("range"))
        if not isinstance(new_text, str) or "start" not in rng or "end" not in rng:
            raise EditError(f"malformed TextEdit #{index}")
        start = _offset(text, starts, _as_dict(rng["start"]))
        end = _offset(text, starts, _as_dict(rng["end"]))
        if end < start:
            raise EditError(f"TextEdit #{index} ends before it starts")
        spans.append((start, end, index, new_text))
    # Same order as VS Code: by start, then end (an insert before a replacement starting at the
    # same place), then position in the list.
    spans.sort(key=lambda span: (span[0], span[1], span[2]))
    for previous, current in zip(spans, spans[1:]):
        if current[0] < previous[1]:
            raise EditError(f"TextEdits #{previous[2]} and #{current[2]} overlap")
    # Bottom-up: each edit only moves text after it, so earlier offsets stay valid.
    result = text
    for start, end, _, new_text in reversed(spans):
        result = result[:start] + new_text + result[end:]
    return result
