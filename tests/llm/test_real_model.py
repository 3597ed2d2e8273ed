"""The real local model (Qwen2.5-Coder 1.5B, llama.cpp worker) end to end on a short script.

Skipped when the GGUF is absent, unless MLOPS_LSP_REQUIRE_MODEL=1 (then it fails)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from mlops_lsp import core
from mlops_lsp.options import Options
from mlflow_store import run_with_store

GGUF = Path(os.environ.get("MLOPS_LSP_TEST_GGUF",
                           "/root/.cache/mlops-lsp/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"))
SHORT = Path(__file__).resolve().parents[1] / "data" / "llm" / "short_sklearn.py"


@pytest.fixture(scope="module")
def gguf() -> Path:
    if not GGUF.is_file():
        if os.environ.get("MLOPS_LSP_REQUIRE_MODEL") == "1":
            pytest.fail(f"MLOPS_LSP_REQUIRE_MODEL=1 but the model is missing: {GGUF}")
        pytest.skip(f"local model not present: {GGUF}")
    return GGUF


def test_qwen_adds_mlflow_tracking_to_a_short_script(gguf: Path, tmp_path: Path) -> None:
    source = SHORT.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 25
    options = Options(strategy="llm", model=f"llama-cpp:{gguf}", retrieval="none", temperature=0.0, seed=0,
                      repair_rounds=2, timeout=300.0)
    started = time.monotonic()
    result = core.adapt(source, "tracking.mlflow", options)
    seconds = time.monotonic() - started
    assert result.status == "ok", result.message
    assert result.engine == "llm"
    assert "import mlflow" in result.source and "mlflow.start_run(" in result.source
    # The function before the region is kept as it was.
    assert "def train(X, y, max_depth):\n    return DecisionTreeRegressor(" in result.source
    assert result.tokens["completion"] > 0
    print(f"qwen tracking.mlflow: {seconds:.1f} s, tokens {result.tokens}")
    # The adapted script runs and its run is in a real MLflow store, with what it logged.
    read = ("import json, mlflow\nruns = mlflow.search_runs(search_all_experiments=True, output_format='list')\n"
            "print(json.dumps([[len(r.data.params), len(r.data.metrics)] for r in runs]))")
    ran, logged = run_with_store(result.source, tmp_path, read)
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert ran.stdout.strip().splitlines()[-1].startswith("final mse: ")
    assert logged.returncode == 0, logged.stderr[-2000:]
    runs = json.loads(logged.stdout.strip().splitlines()[-1])
    assert runs and any(params + metrics > 0 for params, metrics in runs), runs
