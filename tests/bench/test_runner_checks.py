"""run_sample's common checks and the per-case baseline cache, on tiny real scripts."""

from __future__ import annotations

import multiprocessing
import textwrap
from pathlib import Path

import pytest

from mlops_lsp.bench.dataset import Case, load_case
from mlops_lsp.bench.runner import (
    COMMON_CHECKS,
    baseline,
    check_no_placeholder,
    final_line_pattern,
    run_sample,
)

ORIGINAL = textwrap.dedent(
    """
    import json
    import os
    lr = 0.1
    score = 0.5 + lr
    with open("metrics.json", "w") as f:
        json.dump({"score": score}, f)
    print("training...")
    print(f"final score: {score:.4f} after 3 epochs in {os.getcwd()}")
    """
)


def make_case(root: Path, original: str, *, case_id: str = "sklearn-mini", framework: str = "sklearn",
              actions: str = '["hpo.optuna"]', extra: str = "") -> Case:
    case_dir = root / case_id
    case_dir.mkdir(parents=True)
    (case_dir / "train.py").write_text(original, encoding="utf-8")
    (case_dir / "case.toml").write_text(
        f'framework = "{framework}"\nactions = {actions}\nargs = []\ntimeout = 60\n{extra}', encoding="utf-8"
    )
    return load_case(case_dir)


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> Case:
    return make_case(tmp_path_factory.mktemp("dataset"), ORIGINAL)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_final_line_pattern_frees_numbers_only() -> None:
    pattern = final_line_pattern("final test accuracy: 0.9492 (loss 1.2e-3, epoch 3)")
    assert pattern.fullmatch("final test accuracy: 0.8800 (loss 4e-05, epoch 12)")
    assert pattern.fullmatch("final test accuracy:   nan (loss -1, epoch 3)")
    assert not pattern.fullmatch("final val accuracy: 0.8800 (loss 4e-05, epoch 12)")
    assert not pattern.fullmatch("final test accuracy: high (loss 4e-05, epoch 12)")


def test_placeholders_count_only_beyond_the_original() -> None:
    original = "def f():\n    ...  # an elided body the original already had\n"
    assert check_no_placeholder(original + "x = 1\n", original) == (True, "")
    ok, reason = check_no_placeholder(original + "# ... rest of the training code ...\n", original)
    assert not ok and "rest of" in reason
    ok, _ = check_no_placeholder(original + "def g():\n    pass  # your code here\n", original)
    assert not ok
    ok, _ = check_no_placeholder(original + "def g():\n    ...\n", original)
    assert not ok


def test_baseline_records_outputs_and_final_line(case: Case, cache_dir: Path) -> None:
    base = baseline(case, cache_dir)
    assert base.ok and base.exit_code == 0
    assert base.output_files == ["metrics.json"]
    # The sandbox path differs from run to run: it is neutralised, in the baseline and in samples.
    assert base.final_line == "final score: 0.6000 after 3 epochs in {workdir}"


def _baseline_seconds(args: tuple[Path, Path]) -> float:
    case_dir, cache = args
    return baseline(load_case(case_dir), cache).seconds


def test_baseline_runs_once_across_parallel_workers(tmp_path: Path) -> None:
    case = make_case(tmp_path / "data", ORIGINAL.replace("0.1", "0.2"))
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        seconds = pool.map(_baseline_seconds, [(case.dir, tmp_path / "cache")] * 3)
    # One measured run shared by all workers: the same float everywhere.
    assert len(set(seconds)) == 1
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1


def test_identity_fails_on_the_library(case: Case, cache_dir: Path) -> None:
    sample = run_sample(case, "hpo.optuna", ORIGINAL, cache_dir=cache_dir)
    assert not sample.passed
    assert list(sample.checks)[: len(COMMON_CHECKS)] == list(COMMON_CHECKS)
    assert sample.checks["runs"] and sample.checks["outputs_kept"] and sample.checks["final_line_kept"]
    assert not sample.checks["library_used"] and "optuna" in sample.reasons["library_used"]
    assert sample.error.startswith("library_used")


def test_behaviour_changes_are_caught(case: Case, cache_dir: Path) -> None:
    changed = ORIGINAL.replace('"metrics.json"', '"other.json"').replace("final score", "last score")
    sample = run_sample(case, "hpo.optuna", changed, cache_dir=cache_dir)
    assert not sample.checks["outputs_kept"] and "metrics.json" in sample.reasons["outputs_kept"]
    assert not sample.checks["final_line_kept"] and "final score" in sample.reasons["final_line_kept"]


def test_a_crash_fails_runs_and_skips_the_effect_checks(case: Case, cache_dir: Path) -> None:
    sample = run_sample(case, "hpo.optuna", ORIGINAL + "raise SystemExit('boom')\n", cache_dir=cache_dir)
    assert not sample.passed and sample.exit_code == 1
    assert sample.reasons["runs"] == "exit code 1: boom"
    assert sample.reasons["optuna_study"].startswith("not checked")


def test_unparsable_source_fails_without_running(case: Case, cache_dir: Path) -> None:
    sample = run_sample(case, "hpo.optuna", "def broken(:\n", cache_dir=cache_dir)
    assert not sample.passed and sample.seconds == 0.0
    assert sample.error.startswith("parses: syntax error line 1")
    assert all(not ok for ok in sample.checks.values())


def test_timeout_is_reported(tmp_path: Path, cache_dir: Path) -> None:
    case = make_case(tmp_path, ORIGINAL)
    slow = ORIGINAL + "import time\ntime.sleep(600)\n"
    sample = run_sample(case, "hpo.optuna", slow, cache_dir=cache_dir, timeout_scale=0.05)  # 3 s
    assert sample.timed_out and sample.reasons["runs"].startswith("timed out after")


def test_final_line_pattern_frees_hex_ids() -> None:
    pattern = final_line_pattern("final commit 3f9a2c1b0d: 1 data file(s) versioned")
    assert pattern.fullmatch("final commit a81c0e9f44: 2 data file(s) versioned")
    assert not pattern.fullmatch("final commit a81c0e9f44: 2 data files versioned")


def test_output_files_leave_out_tooling_hidden_and_bare_repository_internals() -> None:
    import subprocess

    from mlops_lsp.bench.runner import Sandbox

    with Sandbox() as sandbox:
        work = sandbox.workdir
        for name in ("model.pt", "out/metrics.json", "train.py", "mlflow.db", "mlruns/0/meta.yaml",
                     "wandb/run/files/x", ".hidden/file", "repo/.git/HEAD", "repo/data.csv", ".gitattributes"):
            (work / name).parent.mkdir(parents=True, exist_ok=True)
            (work / name).write_text("x")
        subprocess.run(["git", "init", "-q", "--bare", str(work / "remote.git")], check=True,
                       env=sandbox.environment(hook=False))
        files = sandbox.files()
    assert files == {"model.pt", "out/metrics.json", "repo/data.csv"}
