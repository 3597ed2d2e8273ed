"""The worker side of the JSON-lines protocol spoken by local-model worker subprocesses.

A worker loads one model and then serves requests read from stdin, one JSON object per line:

    {"op": "chat", "id": 1, "messages": [...], "temperature": 0.2, "seed": 0, "max_tokens": 512, "stop": [...]}
    {"op": "cancel", "id": 1}          stop request 1 (queued or running); answered by its "done"
    {"op": "count", "id": 2, "text": "..."}

and answers on stdout, one JSON object per line:

    {"event": "ready", "model": "...", "pid": 123}       once, after the model loaded
    {"event": "fatal", "message": "one line"}            the model cannot be loaded; the worker exits 3
    {"event": "token", "id": 1, "text": "..."}           a streamed delta
    {"event": "done", "id": 1, "finish_reason": "stop|length|cancelled",
     "prompt_tokens": 12, "completion_tokens": 34}
    {"event": "count", "id": 2, "tokens": 56}
    {"event": "error", "id": 1, "message": "one line"}   the request failed; the worker goes on

Requests run one at a time; a cancel is read while a request runs. End of stdin ends the worker
(also when the editor died), which is how the parent closes it. The real stdout is kept for the
protocol only: file descriptor 1 is pointed at stderr so a native library printing to stdout
cannot corrupt it.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import traceback
from collections.abc import Callable
from typing import IO, Any, Protocol

from mlops_lsp.jsonworker import protocol_stdout

FATAL_EXIT = 3


class WorkerFatal(Exception):
    """The model cannot be served; the message (one line) goes to the parent as a fatal event."""


class Engine(Protocol):
    def chat(
        self, request: dict[str, Any], emit_token: Callable[[str], None], cancelled: Callable[[], bool]
    ) -> tuple[str, int, int]:
        """Generate; return (finish_reason, prompt_tokens, completion_tokens)."""
        ...

    def count(self, text: str) -> int: ...


class _Channel:
    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._lock = threading.Lock()

    def send(self, **message: Any) -> None:
        line = json.dumps(message, ensure_ascii=False)
        with self._lock:
            self._out.write(line + "\n")
            self._out.flush()


def one_line(message: object, limit: int = 300) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def serve(model: str, load: Callable[[], Engine]) -> int:
    channel = _Channel(protocol_stdout())
    try:
        engine = load()
    except WorkerFatal as exc:
        channel.send(event="fatal", message=one_line(exc))
        return FATAL_EXIT
    except Exception as exc:  # noqa: BLE001 - any load failure is reported as one line, details to stderr
        traceback.print_exc(file=sys.stderr)
        channel.send(event="fatal", message=one_line(f"cannot load {model}: {type(exc).__name__}: {exc}"))
        return FATAL_EXIT
    channel.send(event="ready", model=model, pid=os.getpid())

    requests: queue.Queue[dict[str, Any] | None] = queue.Queue()
    cancelled: set[Any] = set()
    stdin_closed = threading.Event()

    def read_stdin() -> None:
        for line in sys.stdin:
            if not line.strip():
                continue
            try:
                message = json.loads(line)
                if not isinstance(message, dict):
                    raise ValueError("not an object")
            except ValueError as exc:
                channel.send(event="error", id=None, message=one_line(f"bad request line: {exc}"))
                continue
            if message.get("op") == "cancel":
                cancelled.add(message.get("id"))
            else:
                requests.put(message)
        stdin_closed.set()
        requests.put(None)

    threading.Thread(target=read_stdin, name="worker-stdin", daemon=True).start()
    while (request := requests.get()) is not None:
        _handle(engine, request, channel, lambda rid=request.get("id"): rid in cancelled or stdin_closed.is_set())
        cancelled.discard(request.get("id"))
    return 0


def _handle(engine: Engine, request: dict[str, Any], channel: _Channel, is_cancelled: Callable[[], bool]) -> None:
    request_id = request.get("id")
    op = request.get("op")
    try:
        if op == "chat":
            if is_cancelled():
                channel.send(event="done", id=request_id, finish_reason="cancelled", prompt_tokens=0, completion_tokens=0)
                return
            finish, prompt_tokens, completion_tokens = engine.chat(
                request, lambda text: channel.send(event="token", id=request_id, text=text), is_cancelled
            )
            channel.send(
                event="done",
                id=request_id,
                finish_reason=finish,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
            )
        elif op == "count":
            channel.send(event="count", id=request_id, tokens=engine.count(str(request.get("text", ""))))
        else:
            channel.send(event="error", id=request_id, message=f"unknown op {op!r}")
    except Exception as exc:  # noqa: BLE001 - a failed request must not end the worker
        traceback.print_exc(file=sys.stderr)
        channel.send(event="error", id=request_id, message=one_line(f"{type(exc).__name__}: {exc}"))
