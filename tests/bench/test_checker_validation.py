"""Checker validation on the bundled dataset (design card): every gold adaptation passes and every
unchanged original fails. CI runs a representative subset, one case per framework with all of its
actions; the full run over the whole dataset is `mlops-lsp bench --strategy gold` / `identity`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from benchdata import run_bench

from mlops_lsp.bench.dataset import BUNDLED, load_dataset

SUBSET = ["sklearn-tree-regression", "pytorch-mnist-convnet", "lightning-image-classifier", "keras-convnet",
          "git-lfs-remote-push"]


def _samples(out: Path) -> list[dict]:
    return json.loads((out / "results.json").read_text())["samples"]


@pytest.fixture(scope="module")
def subset() -> list[str]:
    cases = {case.id: case for case in load_dataset(BUNDLED)}
    missing = [case_id for case_id in SUBSET if case_id not in cases]
    assert not missing, f"subset cases missing from the bundled dataset: {missing}"
    assert {cases[c].framework for c in SUBSET} == {"pytorch", "lightning", "keras", "sklearn", "gitpython"}
    return SUBSET


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["gold", "identity"])
def test_checkers_accept_gold_and_reject_identity(strategy: str, subset: list[str], tmp_path: Path):
    out = tmp_path / strategy
    done = run_bench("--strategy", strategy, "--cases", *subset, "--jobs", "2", "--out", out, cwd=tmp_path, timeout=3000)
    assert done.returncode == 0, done.stderr[-3000:]
    samples = _samples(out)
    expected = sum(len(case.actions) for case in load_dataset(BUNDLED) if case.id in subset)
    assert len(samples) == expected
    wrong = [(s["case"], s["action"], s["error"]) for s in samples if s["passed"] != (strategy == "gold")]
    assert not wrong, wrong
    if strategy == "identity":
        # the originals fail for the right reason: the MLOps effect is missing, not a crash
        assert all(s["checks"].get("runs", True) for s in samples), [s["error"] for s in samples]
