"""An adapted script run for real against a SQLite MLflow store in a temporary directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_with_store(code: str, workdir: Path, read: str) -> tuple[subprocess.CompletedProcess[str], subprocess.CompletedProcess[str]]:
    """Run ``code`` as ``train.py`` in ``workdir`` with its own MLflow store, then ``read`` (Python that
    prints what it finds in the store) in the same environment: both finished processes."""
    (workdir / "train.py").write_text(code, encoding="utf-8")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}", "HOME": str(workdir)}
    ran = subprocess.run([sys.executable, "train.py"], cwd=workdir, env=env, capture_output=True, text=True,
                         timeout=600)
    if ran.returncode != 0:
        return ran, subprocess.CompletedProcess([], 1, "", "the script failed")
    found = subprocess.run([sys.executable, "-c", read], cwd=workdir, env=env, capture_output=True, text=True,
                           timeout=600)
    return ran, found
