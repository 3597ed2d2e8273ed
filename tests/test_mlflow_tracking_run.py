"""The adapted scikit-learn script, run for real against a SQLite MLflow store in a temp dir."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mlops_lsp.core import adapt
from mlops_lsp.options import Options

pytest.importorskip("mlflow")
pytest.importorskip("sklearn")


@pytest.mark.slow
def test_adapted_sklearn_script_leaves_a_finished_run_with_params_and_metrics(tmp_path, sklearn_source):
    from mlflow import MlflowClient

    result = adapt(sklearn_source, "tracking.mlflow", Options(strategy="codemod"))
    assert result.ok, result.message
    script = tmp_path / "train.py"
    script.write_text(result.source)
    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    run = subprocess.run(
        [sys.executable, "train.py", "--n-estimators", "20"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "test accuracy:" in run.stdout  # the script's own result is kept
    assert (tmp_path / "model.pkl").is_file()  # and its own output file

    client = MlflowClient(tracking_uri=store)
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    assert len(runs) == 1
    (tracked,) = runs
    assert tracked.info.status == "FINISHED"
    assert tracked.data.params["n_estimators"] == "20"  # from argparse, logged explicitly
    assert "accuracy" in tracked.data.metrics  # the script's own metric
    assert 0.0 <= tracked.data.metrics["accuracy"] <= 1.0
