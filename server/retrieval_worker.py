"""Subprocess that serves documentation retrieval for the model engine (numpy, LanceDB and the
embedder stay out of the editor process). Kept alive: the index and its embedder load once.

Protocol, JSON lines. Parent: ``{"retrieve": {"strategy", "action", "code", "k", "budget_tokens", "framework"}}``.
Worker: any number of ``{"progress": "..."}``; for the llm-* strategies ``{"complete": PROMPT}``, to
which the parent answers ``{"completion": TEXT}``; then ``{"result": {"text", "tokens", "model_calls", "symbols"}}``
or ``{"error": "one line"}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

from mlops_lsp.jsonworker import protocol_stdout

_index: Any = None


def _send(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def _retrieve(request: dict[str, Any], channel: TextIO) -> dict[str, Any]:
    global _index
    from mlops_lsp.docs_index.libraries import ACTION_TARGETS
    from mlops_lsp.docs_index.retrieval import STRATEGIES, retrieve, source_library
    from mlops_lsp.docs_index.store import DocsIndex

    if request["strategy"] not in STRATEGIES or request["action"] not in ACTION_TARGETS:
        raise ValueError(f"unknown strategy or action: {request['strategy']!r}, {request['action']!r}")
    if _index is None:
        _index = DocsIndex()
    action, code = request["action"], request["code"]
    libraries = [ACTION_TARGETS[action]]
    source = source_library(action, code, request.get("framework"))
    if source in _index.libraries:
        libraries.append(source)
    stale = [lib for lib in libraries if _index.status(lib) != "fresh"]
    if stale:
        _send(channel, {"progress": f"building the documentation index for {', '.join(stale)} (first use, takes minutes)"})
        _index.ensure(stale)

    def complete(prompt: str) -> str:
        _send(channel, {"complete": prompt})
        line = sys.stdin.readline()
        if not line:
            raise EOFError("the parent closed the conversation")
        return str(json.loads(line).get("completion", ""))

    context = retrieve(_index, request["strategy"], action, code, k=int(request.get("k", 5)),
                       budget_tokens=int(request.get("budget_tokens", 1200)), complete=complete,
                       framework=request.get("framework"))
    return {"text": context.text, "tokens": context.tokens, "model_calls": context.model_calls,
            "symbols": [hit.symbol for hit in context.chunks]}


def main() -> int:
    channel = protocol_stdout()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            _send(channel, {"result": _retrieve(request["retrieve"], channel)})
        except Exception as exc:  # answer every request: the parent degrades to a prompt without docs
            message = str(exc).splitlines()[0] if str(exc) else ""
            _send(channel, {"error": f"{type(exc).__name__}: {message}"[:300]})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
