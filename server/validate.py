"""Validation shared by every engine: an adapted source that fails here never becomes an edit."""

from __future__ import annotations

import ast
import re
from collections import Counter

import libcst
import pyflakes.checker
import pyflakes.messages

# Phrases models use instead of code. Only lines the adaptation added are searched.
_PLACEHOLDER = re.compile(
    r"\.\.\.\s*(?:rest|remaining|existing|same|other|previous|more)\b"
    r"|#\s*(?:\.\.\.|rest of (?:the )?(?:code|script|file|function)|(?:the )?remaining code"
    r"|existing code|same as (?:before|above|original)|your (?:code|implementation) here"
    r"|todo:?\s*implement|implementation (?:goes )?here|code (?:goes|omitted) here)",
    re.I,
)

# An adaptation may drop a few lines (e.g. git-lfs calls in a translation); more than this share
# of the original's code lines going missing means code was lost.
MAX_DELETED_SHARE = 0.2
MAX_DELETED_FREE = 8


def parse(source: str) -> libcst.Module | str:
    """The libcst module, or a one-line description of why ``source`` does not parse."""
    try:
        return libcst.parse_module(source)
    except Exception as exc:  # ParserSyntaxError, and others on some malformed input
        failure = exc
    try:  # Python's own message is the clearest one
        ast.parse(source)
    except SyntaxError as exc:
        return f"line {exc.lineno}: {exc.msg}"
    except ValueError as exc:  # e.g. null bytes
        return str(exc)
    if isinstance(failure, libcst.ParserSyntaxError):
        return f"line {failure.raw_line}: {failure.message.splitlines()[0][:120]}"
    return f"does not parse: {str(failure).splitlines()[0] if str(failure) else type(failure).__name__}"


def syntax_error(source: str) -> str | None:
    """One-line description of why ``source`` does not parse, or None."""
    parsed = parse(source)
    return parsed if isinstance(parsed, str) else None


def undefined_names(source: str) -> Counter[str]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return Counter()
    checker = pyflakes.checker.Checker(tree, filename="<adapted>")
    kinds = (pyflakes.messages.UndefinedName, pyflakes.messages.UndefinedLocal)
    return Counter(m.message_args[0] for m in checker.messages if isinstance(m, kinds))


def _lines(source: str, *, comments: bool) -> Counter[str]:
    lines = (line.strip() for line in source.splitlines())
    return Counter(line for line in lines if line and (comments or not line.startswith("#")))


def problems(original: str, adapted: str) -> list[str]:
    """Everything wrong with ``adapted`` as an adaptation of ``original``, one line each."""
    error = syntax_error(adapted)
    if error:
        return [f"the adapted code does not parse: {error}"]
    found: list[str] = []
    new_undefined = undefined_names(adapted) - undefined_names(original)
    if new_undefined:
        found.append(f"undefined name(s): {', '.join(sorted(new_undefined))}")
    added = _lines(adapted, comments=True) - _lines(original, comments=True)
    placeholder = next((line for line in added if _PLACEHOLDER.search(line)), None)
    if placeholder:
        found.append(f"lazy placeholder instead of code: {placeholder[:80]!r}")
    original_lines = _lines(original, comments=False)
    deleted = sum((original_lines - _lines(adapted, comments=False)).values())
    total = sum(original_lines.values())
    if deleted > MAX_DELETED_FREE and deleted > MAX_DELETED_SHARE * total:
        found.append(f"{deleted} of {total} original code lines were removed")
    return found
