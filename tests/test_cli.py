"""The CLI as a user runs it: a real subprocess, real exit codes, one-line errors."""

from __future__ import annotations

import ast
import subprocess
import sys

from pathlib import Path

EXAMPLE_SKLEARN = Path(__file__).resolve().parents[1] / "examples" / "sklearn_train.py"


def mlops(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mlops_lsp", *args], capture_output=True, text=True, timeout=120)


def test_version():
    run = mlops("--version")
    assert run.returncode == 0 and run.stdout.startswith("mlops-lsp ")


def test_adapt_prints_a_diff():
    run = mlops("adapt", str(EXAMPLE_SKLEARN), "--action", "tracking.mlflow")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("--- a/") and "+import mlflow" in run.stdout


def test_adapt_writes_output(tmp_path):
    out = tmp_path / "adapted.py"
    run = mlops("adapt", str(EXAMPLE_SKLEARN), "--action", "tracking.mlflow", "-o", str(out))
    assert run.returncode == 0, run.stderr
    ast.parse(out.read_text())
    assert EXAMPLE_SKLEARN.read_text() != out.read_text()


def _one_line_error(run: subprocess.CompletedProcess) -> None:
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "Traceback" not in run.stderr


def test_bad_usage_is_one_line(tmp_path):
    _one_line_error(mlops("adapt", str(EXAMPLE_SKLEARN), "--action", "tracking.nope"))
    _one_line_error(mlops("adapt", str(tmp_path / "missing.py"), "--action", "tracking.mlflow"))
    _one_line_error(mlops("frobnicate"))
    _one_line_error(mlops("serve", "--tcp", "nohost"))


def test_bad_input_is_one_line(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import sklearn\ndef f(:\n")
    _one_line_error(mlops("adapt", str(broken), "--action", "tracking.mlflow"))
    binary = tmp_path / "binary.py"
    binary.write_bytes(b"\xff\xfe\x00junk")
    _one_line_error(mlops("adapt", str(binary), "--action", "tracking.mlflow"))
