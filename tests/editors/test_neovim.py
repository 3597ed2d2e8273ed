"""End to end with a real editor: headless Neovim's own LSP client applies the MLflow action."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NVIM = shutil.which("nvim")


@pytest.mark.skipif(NVIM is None and not os.environ.get("CI"), reason="Neovim is not installed (CI installs it)")
def test_neovim_applies_mlflow_tracking(tmp_path):
    assert NVIM, "nvim missing on CI"
    script = tmp_path / "train.py"
    script.write_text((REPO / "examples" / "sklearn_train.py").read_text())
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    env = {
        **os.environ,
        "MLOPS_LSP_REPO": str(REPO),
        "MLOPS_LSP_PYTHON": sys.executable,
        "MLOPS_LSP_FILE": str(script),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    run = subprocess.run(
        [NVIM, "--headless", "-u", "NONE", "-i", "NONE", "-c", "filetype on", "-c", f"luafile {REPO / 'tests/editors/drive_neovim.lua'}"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )
    assert run.returncode == 0, run.stderr[-2000:] + run.stdout[-2000:]
    adapted = script.read_text()
    tree = ast.parse(adapted)
    assert any(isinstance(n, ast.Import) and any(a.name == "mlflow" for a in n.names) for n in ast.walk(tree))
    assert "with mlflow.start_run():" in adapted
