"""The llama-cpp backend with the real Qwen2.5-Coder-1.5B GGUF (skipped without it unless
MLOPS_LSP_REQUIRE_MODEL=1). Generations are kept to a few tokens: the machines have 2 cores."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mlops_lsp.models import ModelError, load_backend
from mlops_lsp.models.llama_cpp_backend import LlamaCppBackend
from mlops_lsp.models.worker_client import CANCEL_GRACE_SECONDS, WorkerBackend

pytestmark = pytest.mark.slow

MESSAGES = [
    {"role": "system", "content": "You are a Python coding assistant. Answer with code only."},
    {"role": "user", "content": "Write a Python function that returns the square of a number."},
]
TIMEOUT = 240.0  # generous: CI shares its 2 cores


@pytest.fixture(scope="module")
def backend(gguf_path: Path):
    b = load_backend(f"llama-cpp:{gguf_path}")
    yield b
    b.close()


def test_answers_with_tokens_and_reuses_the_worker(backend: WorkerBackend, gguf_path: Path) -> None:
    assert isinstance(backend, LlamaCppBackend)
    assert backend.name == f"llama-cpp:{gguf_path.name}" and backend.small
    seen: list[str] = []
    first = backend.chat(MESSAGES, temperature=0.0, seed=1, max_tokens=16, on_token=seen.append, timeout=TIMEOUT)
    assert first.text.strip() and "".join(seen) == first.text
    assert first.finish_reason in ("stop", "length")
    assert first.prompt_tokens > 20  # the ChatML template around two messages
    assert 0 < first.completion_tokens <= 17
    pid = backend.worker_pid
    assert pid is not None
    second = backend.chat(MESSAGES, temperature=0.0, seed=1, max_tokens=16, timeout=TIMEOUT)
    assert backend.worker_pid == pid
    assert second.text == first.text  # temperature 0, same seed: deterministic


def test_cancel_stops_generation(backend: WorkerBackend) -> None:
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def on_token(_text: str) -> None:
        if not cancel.is_set():
            cancelled_at.append(time.monotonic())
            cancel.set()

    result = backend.chat(
        MESSAGES, temperature=0.0, seed=1, max_tokens=400, on_token=on_token, cancel=cancel, timeout=TIMEOUT
    )
    assert result.finish_reason == "cancelled"
    assert time.monotonic() - cancelled_at[0] < CANCEL_GRACE_SECONDS + 1.5
    assert backend.chat(MESSAGES, temperature=0.0, seed=1, max_tokens=4, timeout=TIMEOUT).text


def test_close_stops_the_worker(backend: WorkerBackend) -> None:
    backend.chat(MESSAGES, temperature=0.0, seed=1, max_tokens=2, timeout=TIMEOUT)
    pid = backend.worker_pid
    assert pid is not None and Path(f"/proc/{pid}").exists()
    backend.close()
    assert not Path(f"/proc/{pid}").exists() and backend.worker_pid is None


def test_a_file_that_is_not_a_model_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "broken.gguf"
    fake.write_bytes(b"GGUF" + b"\0" * 64)
    b = load_backend(f"llama-cpp:{fake}")
    try:
        with pytest.raises(ModelError) as caught:
            b.chat(MESSAGES, temperature=0.0, seed=1, max_tokens=4, timeout=120)
    finally:
        b.close()
    text = str(caught.value)
    assert "\n" not in text and "broken.gguf" in text
