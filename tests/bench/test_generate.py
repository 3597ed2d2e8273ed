"""Generation through the real language server (`python -m mlops_lsp serve`), headless over stdio."""

import ast
from pathlib import Path

from benchdata import TRAIN, write_case

from mlops_lsp.bench.dataset import load_case
from mlops_lsp.bench.generate import LspGenerator, from_files


def settings(strategy: str = "codemod") -> dict:
    return {"strategy": strategy, "model": None, "retrieval": "none", "temperature": 0.2, "seed": 0}


async def test_codemod_generation_through_the_server(tmp_path: Path):
    # pruning.torch does not apply to an sklearn script: the server must not offer it.
    case = load_case(write_case(tmp_path / "ds", actions='["tracking.mlflow", "pruning.torch"]'))
    async with LspGenerator(settings(), tmp_path / "server.log") as generator:
        first = await generator.generate(case, ["tracking.mlflow", "pruning.torch"])
        # The same server serves a second document (a second case) too.
        other = load_case(write_case(tmp_path / "ds", case_id="sklearn-other", actions='["tracking.mlflow"]'))
        second = await generator.generate(other, ["tracking.mlflow"])

    tracked = first["tracking.mlflow"]
    assert tracked.error is None, tracked.error
    assert tracked.engine == "codemod"
    assert tracked.source is not None and tracked.source != TRAIN
    ast.parse(tracked.source)
    assert "mlflow" in tracked.source and "print(f\"final test r2" in tracked.source
    assert second["tracking.mlflow"].source == tracked.source  # same script, deterministic codemod

    refused = first["pruning.torch"]
    assert refused.source is None and refused.error == "action not offered"
    assert (tmp_path / "server.log").is_file()


def test_file_strategies(tmp_path: Path):
    case = load_case(write_case(tmp_path / "ds"))
    identity = from_files(case, "tracking.mlflow", "identity")
    assert identity is not None and identity.source == TRAIN and identity.engine == "identity"
    gold = from_files(case, "tracking.mlflow", "gold")
    assert gold is not None and "mlflow.start_run" in gold.source
    assert from_files(case, "registry.mlflow", "gold") is None  # no gold: the sample is skipped
