"""The W&B offline-log reader on real offline runs written by the installed wandb."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_lsp.bench.checkers.wandb_reader import BLOCK_SIZE, HEADER, WandbLogError, iter_payloads, read_run

RUN_SCRIPT = """
import wandb
run = wandb.init(project="reader-test", config={"lr": 0.01, "hidden": [32, 16]})
wandb.config.update({"epochs": 3})
for step in range(3):
    wandb.log({"loss": 1.0 / (step + 1), "note": "x" * 40000 if step == 1 else "short"})
wandb.finish()
"""


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory) -> Path:
    """One real offline run; its step-1 row is larger than a 32 KiB block (records span blocks)."""
    workdir = tmp_path_factory.mktemp("wandb-run")
    env = {"PATH": os.environ["PATH"], "HOME": str(workdir / "home"), "WANDB_MODE": "offline",
           "WANDB_DIR": str(workdir), "WANDB_SILENT": "true"}
    subprocess.run([sys.executable, "-c", RUN_SCRIPT], cwd=workdir, env=env, check=True, timeout=300)
    (log,) = workdir.glob("wandb/offline-run-*/run-*.wandb")
    return log


def test_reads_config_history_and_exit_code(offline_run: Path) -> None:
    run = read_run(offline_run)
    assert run["project"] == "reader-test"
    assert run["config"] == {"lr": 0.01, "hidden": [32, 16], "epochs": 3}
    assert run["history_rows"] == 3
    assert run["history_steps"] == [0, 1, 2]
    assert run["history_keys"] == ["loss", "note"]
    assert run["exit_code"] == 0


def test_a_record_larger_than_a_block_is_reassembled(offline_run: Path) -> None:
    data = offline_run.read_bytes()
    assert len(data) > BLOCK_SIZE
    assert max(len(p) for p in iter_payloads(data)) > BLOCK_SIZE


def test_a_truncated_log_yields_the_complete_records_only(offline_run: Path) -> None:
    data = offline_run.read_bytes()
    complete = list(iter_payloads(data))
    partial = list(iter_payloads(data[: len(data) // 2]))
    assert 0 < len(partial) < len(complete)
    assert partial == complete[: len(partial)]


def test_corruption_and_foreign_files_are_errors(offline_run: Path) -> None:
    data = bytearray(offline_run.read_bytes())
    with pytest.raises(WandbLogError, match="header"):
        list(iter_payloads(b"not a wandb log at all"))
    data[len(HEADER) + 10] ^= 0xFF  # inside the first record's payload
    with pytest.raises(WandbLogError, match="checksum"):
        list(iter_payloads(bytes(data)))


def test_command_line_prints_one_json_line(offline_run: Path, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.wandb"
    bogus.write_bytes(b"nope")
    result = subprocess.run([sys.executable, "-m", "mlops_lsp.bench.checkers.wandb_reader", str(offline_run), str(bogus)],
                            capture_output=True, text=True, check=True, timeout=120)
    first, second = json.loads(result.stdout.strip().splitlines()[-1])
    assert first["history_rows"] == 3 and first["config"]["epochs"] == 3
    assert "WandbLogError" in second["error"]
