"""Prompt budgets in tokens.

Counting uses the WordPiece tokenizer of all-MiniLM-L6-v2 (``tokenizer.json`` of the packaged
model, through the Rust ``tokenizers`` library: no torch, ~1 ms per chunk). It is not the
tokenizer of whichever chat model consumes the prompt, but it is a real subword tokenizer:
on code and API docs WordPiece splits punctuation and identifiers at least as finely as the
GPT-style BPE tokenizers, so a budget met here is a safe budget there. Truncation cuts at a token
boundary (character offsets of the last kept token), never in the middle of a token.
"""

from __future__ import annotations

import functools
import threading

from .embedding import model_dir

_lock = threading.Lock()


@functools.lru_cache(maxsize=1)
def _tokenizer():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_dir() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def count_tokens(text: str) -> int:
    """Number of WordPiece tokens in ``text`` (special tokens excluded)."""
    if not text:
        return 0
    with _lock:
        encoding = _tokenizer().encode(text, add_special_tokens=False)
    return len(encoding.ids)


def truncate_to_tokens(text: str, max_tokens: int) -> str:
    """The longest prefix of ``text`` with at most ``max_tokens`` tokens, cut at a token boundary."""
    if max_tokens <= 0:
        return ""
    with _lock:
        encoding = _tokenizer().encode(text, add_special_tokens=False)
    if len(encoding.ids) <= max_tokens:
        return text
    end = encoding.offsets[max_tokens - 1][1]
    return text[:end]
