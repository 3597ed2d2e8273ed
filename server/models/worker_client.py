"""The editor side of a local-model worker subprocess (protocol: ``worker_protocol``).

The worker starts on the first request and stays alive between requests (loading a model takes
seconds). Requests are serialised: one model, one generation at a time.

- cancel: the worker is told to stop and answers with a "cancelled" done; if it does not within
  ``CANCEL_GRACE_SECONDS`` (it may be inside a long prompt evaluation) it is killed, and the next
  request starts a new one. The caller gets a Completion with finish_reason "cancelled".
- timeout: the worker is killed (a generation cannot be abandoned half-way otherwise) and the
  caller gets a ModelError at the deadline. Only a worker still *loading* at the deadline is left
  running, so that a short timeout does not make loading restart forever.
- crash: ModelError carrying the worker's own fatal message or the last line of its stderr.

The worker's stderr is forwarded line by line to the ``mlops_lsp.models.worker`` logger (DEBUG),
never to our stdout (which is the LSP channel when serving over stdio).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from mlops_lsp.models import DEFAULT_TIMEOUT_SECONDS, Completion, ModelError, approximate_tokens, one_line

log = logging.getLogger("mlops_lsp.models.worker")

CANCEL_GRACE_SECONDS = 2.0
_POLL_SECONDS = 0.05
# Never handed to a model worker: it needs no credentials.
_SECRET_VARIABLES = ("OPENAI_API_KEY", "MLOPS_LSP_API_KEY")


class _WorkerProcess:
    """One running worker: its process, a queue of its stdout events and its recent stderr."""

    def __init__(self, command: list[str], label: str) -> None:
        env = {k: v for k, v in os.environ.items() if k not in _SECRET_VARIABLES}
        env["PYTHONUNBUFFERED"] = "1"
        self.label = label
        self.proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            start_new_session=True,  # an editor's Ctrl-C/process-group signal is ours to handle, not the worker's
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self.ready = False
        self.fatal: str | None = None
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._read_stdout, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True).start()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None and self.fatal is None

    def send(self, **message: Any) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(message) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            raise ModelError(f"{self.label}: the model worker is gone ({self.exit_reason()})") from exc

    def next_event(self, timeout: float) -> dict[str, Any] | None:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def exit_reason(self) -> str:
        if self.fatal:
            return self.fatal
        code = self.proc.poll()
        last = next((line for line in reversed(self.stderr_tail) if line.strip()), "")
        status = f"exit code {code}" if code is not None else "no answer"
        return f"{status}: {last}" if last else status

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self._reap(5.0)

    def stop(self) -> None:
        """Close stdin (the worker exits at end of input); kill it if it does not."""
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=CANCEL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
        self._reap(1.0)

    def _reap(self, timeout: float) -> None:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s: worker %d did not exit", self.label, self.proc.pid)
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass

    def _read_stdout(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                try:
                    event = json.loads(line)
                    if not isinstance(event, dict):
                        raise ValueError("not an object")
                except ValueError:
                    log.warning("%s: worker wrote a non-protocol line: %s", self.label, one_line(line, 120))
                    continue
                if event.get("event") == "ready":
                    self.ready = True
                elif event.get("event") == "fatal":
                    self.fatal = one_line(event.get("message", "the worker failed"))
                self.events.put(event)
        except (OSError, ValueError):
            pass  # the stream was closed while we read: the process is gone
        self.events.put({"event": "eof"})

    def _read_stderr(self, stream: IO[str]) -> None:
        try:
            for line in stream:
                line = line.rstrip("\n")
                self.stderr_tail.append(line)
                log.debug("%s[%d]: %s", self.label, self.proc.pid, line)
        except (OSError, ValueError):
            pass


class WorkerBackend:
    """Base of the local backends; a subclass names its worker module and model path."""

    small = True
    name: str
    worker_module: str

    def __init__(self, model_path: str, worker_args: list[str]) -> None:
        self._model_path = model_path
        self._worker_args = worker_args
        self._worker: _WorkerProcess | None = None
        self._lock = threading.Lock()  # one request at a time
        self._next_id = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    @property
    def worker_pid(self) -> int | None:
        """The pid of the running worker, if any (tests check that it is reused and stopped)."""
        worker = self._worker
        return worker.pid if worker is not None and worker.alive() else None

    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        seed: int,
        max_tokens: int,
        stop: list[str] | None = None,
        on_token: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        timeout: float | None = None,
    ) -> Completion:
        timeout = DEFAULT_TIMEOUT_SECONDS if timeout is None else float(timeout)
        deadline = time.monotonic() + timeout
        if cancel is not None and cancel.is_set():
            return Completion("", 0, 0, "cancelled")
        if not self._lock.acquire(timeout=max(0.0, timeout)):
            raise ModelError(f"{self.name}: still busy with another request after {timeout:g} s")
        try:
            worker = self._ready_worker(deadline, timeout, cancel)
            if worker is None:
                return Completion("", 0, 0, "cancelled")
            self._next_id += 1
            request_id = self._next_id
            worker.send(
                op="chat",
                id=request_id,
                messages=messages,
                temperature=temperature,
                seed=seed,
                max_tokens=max_tokens,
                stop=stop or [],
            )
            return self._collect(worker, request_id, deadline, timeout, on_token, cancel)
        finally:
            self._lock.release()

    def count_tokens(self, text: str) -> int:
        # Approximate on purpose: exact counts would need the model (or a worker round trip) in
        # the editor process for every prompt-size check.
        return approximate_tokens(text)

    def close(self) -> None:
        # Not under the request lock: closing (e.g. at shutdown) must not wait for a running
        # generation, which then ends with a ModelError as for a crashed worker.
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()

    # -- internals -----------------------------------------------------------------------
    def _command(self) -> list[str]:
        return [sys.executable, "-m", self.worker_module, self._model_path, *self._worker_args]

    def _ready_worker(self, deadline: float, timeout: float, cancel: threading.Event | None) -> _WorkerProcess | None:
        worker = self._worker
        if worker is None or not worker.alive():
            if worker is not None:
                worker.kill()
            log.info("%s: starting the model worker", self.name)
            worker = self._worker = _WorkerProcess(self._command(), self.name)
        while not worker.ready:
            if cancel is not None and cancel.is_set():
                return None  # leave it loading: the next request will want it
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ModelError(f"{self.name}: the model is still loading after {timeout:g} s; try again")
            event = worker.next_event(min(_POLL_SECONDS, remaining))
            if event is not None and event.get("event") in ("fatal", "eof"):
                self._discard(worker)
                raise ModelError(f"{self.name}: {worker.exit_reason()}")
        return worker

    def _collect(
        self,
        worker: _WorkerProcess,
        request_id: int,
        deadline: float,
        timeout: float,
        on_token: Callable[[str], None] | None,
        cancel: threading.Event | None,
    ) -> Completion:
        parts: list[str] = []
        cancel_sent_at: float | None = None
        while True:
            now = time.monotonic()
            if cancel is not None and cancel.is_set() and cancel_sent_at is None:
                worker.send(op="cancel", id=request_id)
                cancel_sent_at = now
            if cancel_sent_at is not None and now - cancel_sent_at > CANCEL_GRACE_SECONDS:
                log.info("%s: the worker did not stop within %g s; restarting it", self.name, CANCEL_GRACE_SECONDS)
                self._discard(worker)
                return self._cancelled(parts)
            if now >= deadline:
                self._discard(worker)
                raise ModelError(f"{self.name}: no complete answer within {timeout:g} s (timed out; worker restarted)")
            event = worker.next_event(min(_POLL_SECONDS, deadline - now))
            if event is None:
                continue
            kind = event.get("event")
            if kind == "eof":
                self._discard(worker)
                raise ModelError(f"{self.name}: the model worker died ({worker.exit_reason()})")
            if event.get("id") not in (request_id, None):
                continue  # a late event of an earlier request
            if kind == "token":
                text = str(event.get("text", ""))
                parts.append(text)
                if on_token is not None and cancel_sent_at is None:
                    on_token(text)
            elif kind == "done":
                if cancel_sent_at is not None or event.get("finish_reason") == "cancelled":
                    return self._cancelled(parts)
                return Completion(
                    text="".join(parts),
                    prompt_tokens=int(event.get("prompt_tokens") or 0),
                    completion_tokens=int(event.get("completion_tokens") or 0),
                    finish_reason="length" if event.get("finish_reason") == "length" else "stop",
                )
            elif kind == "error":
                raise ModelError(f"{self.name}: {event.get('message', 'the request failed')}")

    def _cancelled(self, parts: list[str]) -> Completion:
        text = "".join(parts)
        return Completion(text, 0, approximate_tokens(text), "cancelled")

    def _discard(self, worker: _WorkerProcess) -> None:
        worker.kill()
        if self._worker is worker:
            self._worker = None
