"""ctransformers through its worker, for real: the Qwen GGUF (architecture qwen2) is not a model it
can load, and the failure is one line that says what it can load."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_lsp.models import ModelError, load_backend
from mlops_lsp.models.ctransformers_worker import format_prompt, gguf_architecture

pytest.importorskip("ctransformers")

MESSAGES = [{"role": "user", "content": "Write hello world in Python."}]


def test_qwen_gguf_is_refused_in_one_line(gguf_path: Path) -> None:
    assert gguf_architecture(str(gguf_path)) == "qwen2"
    backend = load_backend(f"ctransformers:{gguf_path}")
    try:
        with pytest.raises(ModelError) as caught:
            backend.chat(MESSAGES, temperature=0.0, seed=0, max_tokens=4, timeout=120)
        assert backend.worker_pid is None  # the failed worker is not kept
    finally:
        backend.close()
    text = str(caught.value)
    assert "\n" not in text
    assert "qwen2" in text and "GGUF llama" in text and "starcoder" in text


def test_non_gguf_files_have_no_architecture(tmp_path: Path) -> None:
    ggml = tmp_path / "model.bin"
    ggml.write_bytes(b"ggjt" + b"\0" * 32)
    assert gguf_architecture(str(ggml)) is None


def test_prompt_layout_ends_with_the_assistant_turn() -> None:
    prompt = format_prompt([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])
    assert prompt == "### System:\nS\n\n### User:\nU\n\n### Assistant:\n"
