"""Reading a model's answer: fenced code (region or whole file) and SEARCH/REPLACE blocks.

Models answer with prose around the code, forget fences, split imports into their own block or
stop mid-answer. Each parser returns code or raises :class:`AnswerError` with a message written
for the model (it is sent back in a repair round).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)(?:\n[ \t]*```|\Z)", re.S | re.I)
_SEARCH_REPLACE = re.compile(
    r"<{5,9}\s*SEARCH[^\n]*\n(.*?)\n?={5,9}[ \t]*\n(.*?)\n?>{5,9}\s*REPLACE", re.S)


class AnswerError(ValueError):
    """The answer cannot be used; the message tells the model what to fix."""


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _import_only(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return bool(tree.body) and all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in tree.body)


def code_blocks(text: str, finish_reason: str = "stop") -> list[str]:
    """Each code block of a fenced answer, in order, with its import-only blocks put in front (for
    an answer that may hold several candidates)."""
    blocks = [b.strip("\n") for b in _FENCE.findall(text) if b.strip()] if finish_reason != "length" else []
    imports = [b for b in blocks if _import_only(b)]
    code = [b for b in blocks if not _import_only(b)]
    if not code:
        return [extract_code(text, finish_reason)]  # raises with the message, or the bare code
    return ["\n".join([*imports, b]).rstrip() + "\n" for b in code]


def extract_code(text: str, finish_reason: str = "stop") -> str:
    """The code of a fenced answer (the longest block, with import-only blocks put in front)."""
    if finish_reason == "length":
        raise AnswerError("your answer was cut off before the end; return the code again, complete, "
                          "without explanations, in one ```python block")
    closed = "```" in text[text.find("```") + 3:] if "```" in text else False
    blocks = [b.strip("\n") for b in _FENCE.findall(text)]
    blocks = [b for b in blocks if b.strip()]
    if not blocks:
        stripped = text.strip()
        if stripped and "\n" in stripped and _parses(stripped):
            return stripped + "\n"  # bare code without a fence
        raise AnswerError("no ```python code block found in your answer; return the code in one ```python block")
    if not closed and not _parses(blocks[-1]):
        raise AnswerError("your ```python block is not closed and the code is incomplete; return it again, complete")
    main = max(blocks, key=len)
    imports = [b for b in blocks if b is not main and _import_only(b)]
    return "\n".join([*imports, main]).rstrip() + "\n"


@dataclass(frozen=True)
class Replacement:
    search: str
    replace: str


def parse_search_replace(text: str, finish_reason: str = "stop") -> list[Replacement]:
    blocks = [Replacement(s, r) for s, r in _SEARCH_REPLACE.findall(text)]
    if not blocks:
        if finish_reason == "length":
            raise AnswerError("your answer was cut off; return fewer, shorter SEARCH/REPLACE blocks")
        raise AnswerError("no SEARCH/REPLACE block found; use <<<<<<< SEARCH / ======= / >>>>>>> REPLACE")
    return blocks


def _find_lines(haystack: list[str], needle: list[str]) -> list[int]:
    """Start indexes where ``needle`` matches ``haystack`` ignoring trailing whitespace."""
    wanted = [line.rstrip() for line in needle]
    return [i for i in range(len(haystack) - len(wanted) + 1)
            if [line.rstrip() for line in haystack[i:i + len(wanted)]] == wanted]


def apply_search_replace(source: str, blocks: list[Replacement]) -> str:
    code = source
    for number, block in enumerate(blocks, start=1):
        if not block.search.strip():
            # An empty SEARCH adds code at the top (imports, usually).
            code = block.replace.rstrip("\n") + "\n" + code
            continue
        count = code.count(block.search)
        if count == 1:
            code = code.replace(block.search, block.replace, 1)
            continue
        lines = code.split("\n")
        starts = _find_lines(lines, block.search.split("\n"))
        first = block.search.strip().splitlines()[0][:60]
        if count > 1 or len(starts) > 1:
            raise AnswerError(f"SEARCH block {number} matches the file more than once ({first!r}); include more lines")
        if not starts:
            raise AnswerError(f"SEARCH block {number} does not match the file exactly ({first!r}); copy the lines exactly")
        start = starts[0]
        lines[start:start + len(block.search.split("\n"))] = block.replace.split("\n")
        code = "\n".join(lines)
    return code
