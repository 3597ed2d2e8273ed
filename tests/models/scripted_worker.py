"""A worker speaking the real protocol (mlops_lsp.models.worker_protocol) with a scripted engine
instead of a model, so the editor-side client's cancel/timeout/crash handling is tested quickly.

Run as ``python scripted_worker.py MODEL_NAME``. MODEL_NAME "fail-to-load" makes loading fail; the
last user message picks the behaviour: "answer: TEXT", "slow", "stubborn" (ignores cancel),
"crash", "error".
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

from mlops_lsp.models.worker_protocol import WorkerFatal, serve


class ScriptedEngine:
    def chat(
        self, request: dict[str, Any], emit_token: Callable[[str], None], cancelled: Callable[[], bool]
    ) -> tuple[str, int, int]:
        command = request["messages"][-1]["content"]
        if command.startswith("answer: "):
            words = command.removeprefix("answer: ").split(" ")
            limit = int(request["max_tokens"])
            for word in words[:limit]:
                emit_token(word + " ")
            return ("length" if len(words) > limit else "stop"), len(request["messages"]), min(len(words), limit)
        if command == "slow":
            for i in range(1000):
                if cancelled():
                    return "cancelled", 1, i
                emit_token(f"t{i} ")
                time.sleep(0.05)
        if command == "stubborn":
            emit_token("busy ")
            time.sleep(3600)
        if command == "crash":
            print("fatal: simulated native crash in the model", file=sys.stderr, flush=True)
            os._exit(7)
        if command == "error":
            raise ValueError("the prompt is too long for the context window")
        raise AssertionError(f"unknown command {command!r}")

    def count(self, text: str) -> int:
        return len(text.split())


def load(model: str) -> ScriptedEngine:
    if model == "fail-to-load":
        raise WorkerFatal("cannot load fail-to-load: not a model file")
    if model == "slow-to-load":
        time.sleep(1.5)
    return ScriptedEngine()


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1], lambda: load(sys.argv[1])))
