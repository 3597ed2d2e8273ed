"""The editor side of local-model workers (start, reuse, cancel, timeout, crash) against a real
subprocess speaking the real protocol, with a scripted engine in place of the model."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from mlops_lsp.models import Completion, ModelError
from mlops_lsp.models.worker_client import CANCEL_GRACE_SECONDS, WorkerBackend

SCRIPT = Path(__file__).with_name("scripted_worker.py")


class ScriptedBackend(WorkerBackend):
    def __init__(self, model: str = "scripted") -> None:
        self.name = f"scripted:{model}"
        super().__init__(model, [])

    def _command(self) -> list[str]:
        return [sys.executable, str(SCRIPT), self._model_path]


@pytest.fixture
def backend():
    b = ScriptedBackend()
    yield b
    b.close()


def ask(backend: WorkerBackend, command: str, **kwargs: object) -> Completion:
    options: dict[str, object] = {"temperature": 0.0, "seed": 0, "max_tokens": 50, "timeout": 20.0}
    options.update(kwargs)
    return backend.chat([{"role": "user", "content": command}], **options)  # type: ignore[arg-type]


def process_gone(pid: int) -> bool:
    return not Path(f"/proc/{pid}").exists()


def test_answers_stream_and_the_worker_is_reused(backend: ScriptedBackend) -> None:
    seen: list[str] = []
    first = ask(backend, "answer: one two three", on_token=seen.append)
    assert first == Completion("one two three ", 1, 3, "stop")
    assert seen == ["one ", "two ", "three "]
    pid = backend.worker_pid
    assert pid is not None
    assert ask(backend, "answer: a b c d", max_tokens=2) == Completion("a b ", 1, 2, "length")
    assert backend.worker_pid == pid


def test_cancel_is_cooperative_and_keeps_the_worker(backend: ScriptedBackend) -> None:
    ask(backend, "answer: warm")
    pid = backend.worker_pid
    cancel = threading.Event()
    seen: list[str] = []

    def on_token(text: str) -> None:
        seen.append(text)
        if len(seen) == 3:
            cancel.set()

    started = time.monotonic()
    result = ask(backend, "slow", on_token=on_token, cancel=cancel)
    assert result.finish_reason == "cancelled" and result.text.startswith("t0 t1 t2 ")
    assert time.monotonic() - started < 2.0
    assert backend.worker_pid == pid  # it stopped by itself: no restart needed
    assert ask(backend, "answer: still here").text == "still here "


def test_cancel_of_a_stuck_worker_kills_it_after_the_grace(backend: ScriptedBackend) -> None:
    ask(backend, "answer: warm")
    pid = backend.worker_pid
    assert pid is not None
    cancel = threading.Event()
    timer = threading.Timer(0.3, cancel.set)
    timer.start()
    started = time.monotonic()
    result = ask(backend, "stubborn", cancel=cancel)
    elapsed = time.monotonic() - started
    assert result.finish_reason == "cancelled"
    assert CANCEL_GRACE_SECONDS < elapsed < CANCEL_GRACE_SECONDS + 1.5
    assert process_gone(pid)
    assert ask(backend, "answer: restarted").text == "restarted "
    assert backend.worker_pid not in (None, pid)


def test_timeout_kills_the_worker_and_is_one_line(backend: ScriptedBackend) -> None:
    ask(backend, "answer: warm")
    pid = backend.worker_pid
    assert pid is not None
    started = time.monotonic()
    with pytest.raises(ModelError, match="timed out") as caught:
        ask(backend, "stubborn", timeout=1.0)
    assert 0.9 < time.monotonic() - started < 2.0
    assert "\n" not in str(caught.value)
    assert process_gone(pid)
    assert ask(backend, "answer: again").text == "again "


def test_crash_reports_the_last_stderr_line(backend: ScriptedBackend) -> None:
    with pytest.raises(ModelError) as caught:
        ask(backend, "crash")
    text = str(caught.value)
    assert "\n" not in text
    assert "simulated native crash" in text and "exit code 7" in text
    assert ask(backend, "answer: recovered").text == "recovered "


def test_request_error_keeps_the_worker(backend: ScriptedBackend) -> None:
    ask(backend, "answer: warm")
    pid = backend.worker_pid
    with pytest.raises(ModelError, match="too long for the context window"):
        ask(backend, "error")
    assert backend.worker_pid == pid


def test_load_failure_is_the_workers_one_line() -> None:
    b = ScriptedBackend("fail-to-load")
    try:
        with pytest.raises(ModelError, match="cannot load fail-to-load: not a model file"):
            ask(b, "answer: x")
    finally:
        b.close()


def test_short_timeout_while_loading_leaves_the_worker_loading() -> None:
    b = ScriptedBackend("slow-to-load")
    try:
        with pytest.raises(ModelError, match="still loading"):
            ask(b, "answer: x", timeout=0.3)
        assert ask(b, "answer: loaded", timeout=10).text == "loaded "
    finally:
        b.close()


def test_close_stops_the_worker(backend: ScriptedBackend) -> None:
    ask(backend, "answer: warm")
    pid = backend.worker_pid
    assert pid is not None
    backend.close()
    assert process_gone(pid) and backend.worker_pid is None


def test_worker_gets_no_api_keys(backend: ScriptedBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-in-a-worker-0000")
    ask(backend, "answer: warm")
    pid = backend.worker_pid
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"sk-never-in-a-worker" not in environ and b"OPENAI_API_KEY" not in environ
    assert os.environ["OPENAI_API_KEY"]  # the parent still has it


def test_close_during_a_generation_ends_it_promptly(backend: ScriptedBackend) -> None:
    ask(backend, "answer: warm")
    pid = backend.worker_pid
    assert pid is not None
    closer = threading.Timer(0.3, backend.close)
    closer.start()
    started = time.monotonic()
    try:
        result = ask(backend, "slow")
        assert result.finish_reason == "cancelled"  # the worker stops at end of input
    except ModelError as error:  # or it was gone before it could say so
        assert "\n" not in str(error)
    assert time.monotonic() - started < CANCEL_GRACE_SECONDS + 1.5
    closer.join(timeout=CANCEL_GRACE_SECONDS + 2)  # close() returns once the worker is reaped
    assert process_gone(pid)
