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

from ..edits import EditError, Position, TextEdit, apply_edits

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _as_dict(value: Any) -> Mapping[str, Any]:
    """Accept both plain JSON objects and lsprotocol attrs objects."""
    if isinstance(value, Mapping):
        return value
    return {name: getattr(value, name) for name in ("range", "start", "end", "line", "character", "new_text") if hasattr(value, name)}


def apply_text_edits(text: str, edits: Sequence[Any]) -> str:
    """Apply LSP TextEdits (JSON dicts with ``range``/``newText`` or lsprotocol ``TextEdit``s)."""
    converted = []
    for index, edit in enumerate(edits):
        fields = _as_dict(edit)
        new_text = fields.get("newText", fields.get("new_text"))
        rng = _as_dict(fields.get("range"))
        if not isinstance(new_text, str) or "start" not in rng or "end" not in rng:
            raise EditError(f"malformed TextEdit #{index}")
        converted.append(TextEdit(_position(rng["start"]), _position(rng["end"]), new_text))
    return apply_edits(text, converted)


def _position(value: Any) -> Position:
    fields = _as_dict(value)
    line, character = fields.get("line"), fields.get("character")
    if not isinstance(line, int) or not isinstance(character, int) or line < 0 or character < 0:
        raise EditError(f"bad position {dict(fields)!r}")
    return Position(line, character)
