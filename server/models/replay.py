"""``replay:/path/recorded.json``: answers chat requests with responses recorded from a real model.

Recordings are written by ``benchmarks/record_model_responses.py``. A request is matched by a hash
of its messages (role and content, in order) and, where several responses were recorded for the same
messages (the engine draws an unchanged answer again, hotter), by the temperature and seed it is
drawn with. A request that was never recorded fails clearly, naming the hash, so a test never
passes on an answer meant for another prompt.
"""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any, Callable

try:  # the shared types live in the package's __init__ (written alongside the real backends)
    from . import Completion, ModelError
except ImportError:  # pragma: no cover - only while the package __init__ is not there yet
    from dataclasses import dataclass

    class ModelError(RuntimeError):  # type: ignore[no-redef]
        """A backend failure, one line."""

    @dataclass(frozen=True)
    class Completion:  # type: ignore[no-redef]
        text: str
        prompt_tokens: int
        completion_tokens: int
        finish_reason: str


def messages_key(messages: list[dict[str, str]]) -> str:
    """Stable hash of a conversation: what a recording is looked up by."""
    canonical = json.dumps([[m["role"], m["content"]] for m in messages], ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


class ReplayBackend:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._exchanges: dict[str, list[dict[str, Any]]] = {}
            for exchange in data["exchanges"]:
                self._exchanges.setdefault(exchange["key"], []).append(exchange)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"cannot read recording {self.path}: {type(exc).__name__}: {exc}") from None
        self.recorded_model: str = data.get("model", "unknown")
        self.name = f"replay:{self.path.name}"
        self.small: bool = bool(data.get("small", True))
        self.calls = 0

    def chat(self, messages: list[dict[str, str]], *, temperature: float = 0.0, seed: int = 0, max_tokens: int = 1024,
             stop: list[str] | None = None, on_token: Callable[[str], None] | None = None,
             cancel: threading.Event | None = None, timeout: float | None = None) -> Completion:
        key = messages_key(messages)
        recorded = self._exchanges.get(key)
        if not recorded:
            raise ModelError(f"{self.path.name} has no recorded response for request {key} "
                             f"({len(messages)} messages); re-record with benchmarks/record_model_responses.py")
        if cancel is not None and cancel.is_set():
            return Completion("", 0, 0, "cancelled")
        drawn = [e for e in recorded if e.get("params", {}).get("temperature") == temperature
                 and e.get("params", {}).get("seed") == seed]
        exchange = (drawn or recorded)[0]
        self.calls += 1
        answer = exchange["completion"]
        if on_token is not None:
            for piece in answer["text"].splitlines(keepends=True):
                on_token(piece)
        return Completion(answer["text"], int(answer["prompt_tokens"]), int(answer["completion_tokens"]),
                          answer["finish_reason"])

    def count_tokens(self, text: str) -> int:
        # Roughly the Qwen tokenizer on code: replays only need a consistent budget.
        return max(1, len(text) // 3)

    def close(self) -> None:
        pass
