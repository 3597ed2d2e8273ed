"""Fixtures for the model-backend tests. The `fake_openai` server fixture lives in tests/conftest.py
(shared with the engine and LSP tests)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DEFAULT_GGUF = Path.home() / ".cache" / "mlops-lsp" / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def real_gguf_path() -> Path | None:
    """MLOPS_LSP_TEST_GGUF, else the default cache path of scripts/get-qwen2.5-coder-1.5b; None if absent."""
    configured = os.environ.get("MLOPS_LSP_TEST_GGUF")
    path = Path(configured).expanduser() if configured else DEFAULT_GGUF
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def gguf_path() -> Path:
    """The real Qwen GGUF; skipped when absent unless MLOPS_LSP_REQUIRE_MODEL=1 (CI), then failed."""
    path = real_gguf_path()
    if path is None:
        where = os.environ.get("MLOPS_LSP_TEST_GGUF") or str(DEFAULT_GGUF)
        message = f"no GGUF model at {where} (run scripts/get-qwen2.5-coder-1.5b)"
        if os.environ.get("MLOPS_LSP_REQUIRE_MODEL") == "1":
            pytest.fail(message + " and MLOPS_LSP_REQUIRE_MODEL=1", pytrace=False)
        pytest.skip(message)
    return path
