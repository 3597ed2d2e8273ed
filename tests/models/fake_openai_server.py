"""A small, real OpenAI-compatible HTTP server for tests (stdlib only, 127.0.0.1, port 0).

It implements ``POST /v1/chat/completions`` (non-streaming JSON and streaming SSE with chunked
transfer encoding, so a stream cut mid-way is a real protocol error for the client) and records
every request it gets. Behaviours are scripted per test:

    with FakeOpenAI() as fake:                       # or the ``fake_openai`` fixture
        fake.answer("print('hi')", prompt_tokens=12)  # default reply for every request
        fake.enqueue(Hang(), Answer("second"))        # consumed first, one per request, in order
        backend = load_backend(f"openai-compatible:{fake.base_url}#qwen")
        ...
        fake.requests[-1].body["messages"], fake.requests[-1].headers["authorization"]

Behaviours: ``Answer`` (text or a function of the request body, with usage), ``Hang`` (sleeps until
the server shuts down), ``Garbage`` (non-JSON body / non-JSON SSE data), ``HttpError`` (status code,
500 by default), ``CloseMidway`` (sends some deltas then drops the connection), ``Slow`` (one delta
every ``delay`` seconds; notices when the client hangs up, see ``disconnects``).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Union

TextSource = Union[str, Callable[[dict[str, Any]], str]]


@dataclass(frozen=True)
class Answer:
    """A normal reply. ``text`` may be a function of the request body (e.g. to echo the prompt)."""

    text: TextSource = "ok"
    prompt_tokens: int | None = 10  # None: the reply carries no usage block
    completion_tokens: int | None = None  # None: one per delta
    finish_reason: str = "stop"
    chunk_chars: int = 4  # streaming: characters per delta


@dataclass(frozen=True)
class Hang:
    """Accept the request and never answer (until the server shuts down)."""


@dataclass(frozen=True)
class Garbage:
    body: str = "<html>this is not JSON {{{"


@dataclass(frozen=True)
class HttpError:
    status: int = 500
    message: str = "internal error"


@dataclass(frozen=True)
class CloseMidway:
    """Stream ``text`` but drop the connection after ``deltas`` deltas (no final chunk, no [DONE])."""

    text: str = "partial answer that never ends"
    deltas: int = 2
    chunk_chars: int = 4


@dataclass(frozen=True)
class Slow:
    """Stream ``text`` one delta every ``delay`` seconds (cancellation tests)."""

    text: str = "a slow answer " * 20
    delay: float = 0.2
    chunk_chars: int = 4


Behaviour = Union[Answer, Hang, Garbage, HttpError, CloseMidway, Slow]


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any] | None  # None when the body was not JSON
    raw_body: bytes = field(repr=False, default=b"")


class FakeOpenAI:
    """The server; a context manager. ``base_url`` ends in ``/v1`` like the real API's."""

    def __init__(self, model: str = "fake-model") -> None:
        self.model = model
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0  # times a client hung up while we were still streaming
        self.default: Behaviour = Answer()
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()

    # -- scripting -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def behave(self, behaviour: Behaviour) -> None:
        """Set the reply for every following request (after the queued ones)."""
        self.default = behaviour

    def answer(self, text: TextSource, **usage: Any) -> None:
        self.behave(Answer(text, **usage))

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Replies for the next requests, one each, before the default applies again."""
        with self._lock:
            self._queue.extend(behaviours)

    def next_behaviour(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def note_disconnect(self) -> None:
        with self._lock:
            self.disconnects += 1

    @property
    def stopping(self) -> threading.Event:
        return self._stopping

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        self._stopping.set()  # releases Hang/Slow handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeOpenAI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler_for(fake: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(_ChatHandler):
        server_fake = fake

    return Handler


class _ChatHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked streaming; a cut stream is an incomplete chunked body
    server_fake: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the default per-request stderr line."""

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        self._record(b"")
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(200, {"object": "list", "data": [{"id": self.server_fake.model, "object": "model"}]})
        else:
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        request = self._record(raw)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        body = request.body or {}
        behaviour = self.server_fake.next_behaviour()
        try:
            self._reply(behaviour, body)
        except (BrokenPipeError, ConnectionResetError):
            self.server_fake.note_disconnect()
        self.close_connection = True  # one request per connection keeps the scripting simple

    # -- behaviours ----------------------------------------------------------------------
    def _reply(self, behaviour: Behaviour, body: dict[str, Any]) -> None:
        stream = bool(body.get("stream"))
        if isinstance(behaviour, Hang):
            self.server_fake.stopping.wait()
        elif isinstance(behaviour, HttpError):
            self._send_json(behaviour.status, {"error": {"message": behaviour.message, "type": "server_error"}})
        elif isinstance(behaviour, Garbage):
            if stream:
                self._start_stream()
                self._chunk(f"data: {behaviour.body}\n\n".encode())
                self._chunk(b"data: [DONE]\n\n")
                self._end_stream()
            else:
                self._send_raw(200, "application/json", behaviour.body.encode())
        elif isinstance(behaviour, Answer):
            text = behaviour.text(body) if callable(behaviour.text) else behaviour.text
            if stream:
                self._stream_answer(behaviour, text, body)
            else:
                self._send_json(200, self._completion(behaviour, text))
        elif isinstance(behaviour, CloseMidway):
            self._start_stream()
            for delta in _pieces(behaviour.text, behaviour.chunk_chars)[: behaviour.deltas]:
                self._chunk(_sse(self._chunk_obj({"content": delta}, None)))
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)  # no terminating chunk: the body is incomplete
        elif isinstance(behaviour, Slow):
            self._start_stream()
            self._chunk(_sse(self._chunk_obj({"role": "assistant", "content": ""}, None)))
            for delta in _pieces(behaviour.text, behaviour.chunk_chars):
                if self.server_fake.stopping.wait(behaviour.delay):
                    return
                self._chunk(_sse(self._chunk_obj({"content": delta}, None)))
            self._chunk(_sse(self._chunk_obj({}, "stop")))
            self._chunk(b"data: [DONE]\n\n")
            self._end_stream()
        else:  # pragma: no cover - a test scripted something unknown
            raise TypeError(f"unknown behaviour {behaviour!r}")

    def _stream_answer(self, answer: Answer, text: str, body: dict[str, Any]) -> None:
        pieces = _pieces(text, answer.chunk_chars)
        self._start_stream()
        self._chunk(_sse(self._chunk_obj({"role": "assistant", "content": ""}, None)))
        for delta in pieces:
            self._chunk(_sse(self._chunk_obj({"content": delta}, None)))
        self._chunk(_sse(self._chunk_obj({}, answer.finish_reason)))
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        usage = _usage(answer, len(pieces))
        if include_usage and usage is not None:
            final = self._chunk_obj({}, None)
            final["choices"] = []
            final["usage"] = usage
            self._chunk(_sse(final))
        self._chunk(b"data: [DONE]\n\n")
        self._end_stream()

    def _completion(self, answer: Answer, text: str) -> dict[str, Any]:
        reply: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.server_fake.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": answer.finish_reason,
                }
            ],
        }
        usage = _usage(answer, len(_pieces(text, answer.chunk_chars)))
        if usage is not None:
            reply["usage"] = usage
        return reply

    def _chunk_obj(self, delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.server_fake.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }

    # -- HTTP plumbing -------------------------------------------------------------------
    def _record(self, raw: bytes) -> RecordedRequest:
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body if isinstance(body, dict) else None,
            raw_body=raw,
        )
        self.server_fake.record(request)
        return request

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        self._send_raw(status, "application/json", json.dumps(payload).encode())

    def _send_raw(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), max(1, size))]


def _sse(obj: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(obj)}\n\n".encode()


def _usage(answer: Answer, deltas: int) -> dict[str, int] | None:
    if answer.prompt_tokens is None:
        return None
    completion = answer.completion_tokens if answer.completion_tokens is not None else deltas
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": answer.prompt_tokens + completion,
    }
