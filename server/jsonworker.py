"""A kept-alive helper subprocess speaking JSON lines (one request, one or more answers).

Used for the work the editor process must not do itself: importing the MLOps libraries
(attribute checks) and the documentation index (numpy, LanceDB, embeddings).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import subprocess
import sys
import threading
from typing import IO, Any, Iterator

log = logging.getLogger(__name__)


def protocol_stdout() -> IO[str]:
    """Worker side: a private copy of stdout for the protocol; fd 1 then writes to stderr, so that
    what the imported libraries print cannot corrupt the answers. The worker also ends when its
    parent does: a model generating for minutes would otherwise outlive a crashed editor."""
    parent = os.getppid()

    def exit_with_parent() -> None:
        while os.getppid() == parent:
            threading.Event().wait(1.0)
        os._exit(0)

    threading.Thread(target=exit_with_parent, name="exit-with-parent", daemon=True).start()
    sys.stdout.flush()
    protocol_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(protocol_fd, "w", encoding="utf-8", buffering=1)


class WorkerError(RuntimeError):
    """The worker died, timed out or answered garbage (one-line message)."""


class JsonWorker:
    def __init__(self, module: str, *args: str) -> None:
        self.command = [sys.executable, "-m", module, *args]
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()  # one conversation at a time
        atexit.register(self.close)

    def _start(self) -> subprocess.Popen[str]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self._process = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None,
                                         text=True, env=env, bufsize=1)
        self._lines = queue.Queue()
        threading.Thread(target=self._pump, args=(self._process, self._lines), daemon=True).start()
        return self._process

    @staticmethod
    def _pump(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    def send(self, message: dict[str, Any]) -> None:
        process = self._start()
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(message) + "\n")
            process.stdin.flush()
        except OSError as exc:
            self.close()
            raise WorkerError(f"{self.command[2]} worker is gone: {exc}") from None

    def receive(self, timeout: float, cancel: threading.Event | None = None) -> dict[str, Any]:
        """The next answer; polls ``cancel`` every 0.2 s (a cancelled conversation kills the worker)."""
        waited = 0.0
        while True:
            if cancel is not None and cancel.is_set():
                self.close()
                raise WorkerError("cancelled")
            try:
                line = self._lines.get(timeout=0.2)
            except queue.Empty:
                waited += 0.2
                if waited >= timeout:
                    self.close()
                    raise WorkerError(f"{self.command[2]} worker did not answer within {timeout:.0f} s") from None
                continue
            if line is None:
                self.close()
                raise WorkerError(f"{self.command[2]} worker exited (see its stderr)")
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s worker wrote a non-JSON line: %s", self.command[2], line[:200])

    def request(self, message: dict[str, Any], timeout: float, cancel: threading.Event | None = None) -> dict[str, Any]:
        with self._lock:
            self.send(message)
            return self.receive(timeout, cancel)

    def conversation(self) -> "threading.Lock":
        return self._lock

    def close(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.stdin:
                process.stdin.close()
            process.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()


def iter_answers(worker: JsonWorker, timeout: float, cancel: threading.Event | None) -> Iterator[dict[str, Any]]:
    while True:
        yield worker.receive(timeout, cancel)
