"""`mlops-lsp bench` end to end, through the real console entry point."""

import json
import sys
from pathlib import Path

import pytest
from benchdata import CASE_ID, TRAIN, run_bench, write_case

from mlops_lsp.bench.dataset import dataset_hash, load_dataset


def assert_one_line_error(done, *needles: str) -> str:
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


# ---------------------------------------------------------------- bad usage and bad datasets (fast)


def test_missing_train_py(tiny_dataset: Path, tmp_path: Path):
    (tiny_dataset / CASE_ID / "train.py").unlink()
    out = tmp_path / "out"
    done = run_bench("--dataset", tiny_dataset, "--strategy", "identity", "--out", out, cwd=tmp_path)
    assert_one_line_error(done, CASE_ID, "train.py")
    assert not out.exists()


def test_bad_toml(tiny_dataset: Path, tmp_path: Path):
    (tiny_dataset / CASE_ID / "case.toml").write_text('framework = "sklearn"\nactions = [\n', encoding="utf-8")
    done = run_bench("--dataset", tiny_dataset, "--strategy", "identity", "--out", tmp_path / "out", cwd=tmp_path)
    assert_one_line_error(done, CASE_ID, "case.toml")


def test_unknown_action_in_case(tmp_path: Path):
    root = tmp_path / "dataset"
    write_case(root, case_id="sklearn-bad-action", actions='["tracking.nope"]')
    done = run_bench("--dataset", root, "--strategy", "identity", "--out", tmp_path / "out", cwd=tmp_path)
    assert_one_line_error(done, "sklearn-bad-action", "tracking.nope")


def test_unknown_selection(tiny_dataset: Path, tmp_path: Path):
    done = run_bench("--dataset", tiny_dataset, "--cases", "no-such-case", "--out", tmp_path / "o1", cwd=tmp_path)
    assert_one_line_error(done, "no-such-case")
    done = run_bench("--dataset", tiny_dataset, "--actions", "no.such", "--out", tmp_path / "o2", cwd=tmp_path)
    assert_one_line_error(done, "no.such")
    done = run_bench("--dataset", tiny_dataset, "-n", "0", cwd=tmp_path)
    assert_one_line_error(done, "-n")
    done = run_bench("--dataset", tiny_dataset, "--strategy", "bogus", cwd=tmp_path)
    assert_one_line_error(done, "bogus")


def test_missing_dataset_dir(tmp_path: Path):
    done = run_bench("--dataset", tmp_path / "nowhere", cwd=tmp_path)
    assert_one_line_error(done, "nowhere")


def test_output_of_another_configuration_is_refused(tiny_dataset: Path, tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    identity = {"dataset_hash": dataset_hash(load_dataset(tiny_dataset)), "strategy": "gold", "model": None,
                "retrieval": "docprompt", "seed": 0}
    (out / "config.json").write_text(json.dumps(identity), encoding="utf-8")
    done = run_bench("--dataset", tiny_dataset, "--strategy", "identity", "--out", out, cwd=tmp_path)
    assert_one_line_error(done, "strategy", "gold", "identity")
    assert sorted(p.name for p in out.iterdir()) == ["config.json"]


def test_non_empty_foreign_output_is_refused(tiny_dataset: Path, tmp_path: Path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "precious.txt").write_text("keep me", encoding="utf-8")
    done = run_bench("--dataset", tiny_dataset, "--strategy", "identity", "--out", out, cwd=tmp_path)
    assert_one_line_error(done, "config.json")


# ---------------------------------------------------------------- real runs through the runner (slow)


def load_results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_gold_passes_and_a_rerun_resumes(tiny_dataset: Path, tmp_path: Path):
    out = tmp_path / "gold"
    args = ("--dataset", tiny_dataset, "--strategy", "gold", "--out", out)
    done = run_bench(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    results = load_results(out)

    # registry.mlflow has no gold: skipped, not scored.
    assert results["config"]["skipped"] == [{"case": CASE_ID, "action": "registry.mlflow", "reason": "no gold"}]
    [sample] = results["samples"]
    assert sample["case"] == CASE_ID and sample["action"] == "tracking.mlflow" and sample["framework"] == "sklearn"
    assert sample["passed"] is True, sample
    assert sample["checks"] and all(sample["checks"].values())
    assert results["summary"]["tracking.mlflow"] == results["summary"]["tracking.mlflow"] | {"cases": 1, "pass@1": 1.0}
    assert "pass@3" not in results["summary"]["tracking.mlflow"]  # k=3 > n=1
    assert results["summary"]["overall"]["pass@1"] == 1.0
    assert results["config"]["dataset_hash"] == dataset_hash(load_dataset(tiny_dataset))
    assert results["config"]["libraries"]["mlflow"]
    generated = out / "generated" / CASE_ID / "tracking.mlflow" / "t0.2-s0.py"
    assert "mlflow.start_run" in generated.read_text(encoding="utf-8")
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "| `tracking.mlflow` | 1 | 1 | 1 | 100.0% |" in report

    # Second run: nothing regenerated or rerun.
    sample_file = out / "samples" / CASE_ID / "tracking.mlflow" / "t0.2-s0.json"
    before = (sample_file.stat().st_mtime_ns, generated.stat().st_mtime_ns)
    done = run_bench(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    again = load_results(out)
    assert (sample_file.stat().st_mtime_ns, generated.stat().st_mtime_ns) == before
    assert again["stats"]["executed"] == 0 and again["stats"]["generated"] == 0 and again["stats"]["reused"] == 1
    assert again["samples"] == results["samples"]


@pytest.mark.slow
def test_identity_fails_every_sample(tiny_dataset: Path, tmp_path: Path):
    out = tmp_path / "identity"
    done = run_bench("--dataset", tiny_dataset, "--strategy", "identity", "--out", out, "--k", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # failing samples are not a failing bench
    results = load_results(out)
    assert {s["action"] for s in results["samples"]} == {"tracking.mlflow", "registry.mlflow"}
    for sample in results["samples"]:
        assert sample["passed"] is False, sample
        assert not all(sample["checks"].values())
    assert results["summary"]["overall"]["pass@1"] == 0.0
    generated = out / "generated" / CASE_ID / "registry.mlflow" / "t0.2-s0.py"
    assert generated.read_text(encoding="utf-8") == TRAIN
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "## Failures (2 of 2 samples)" in report and "None: every checker rejects" in report


@pytest.mark.slow
def test_codemod_through_the_language_server(tiny_dataset: Path, tmp_path: Path):
    out = tmp_path / "codemod"
    done = run_bench("--dataset", tiny_dataset, "--actions", "tracking.mlflow", "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    [sample] = load_results(out)["samples"]
    assert sample["strategy"] == "codemod" and sample["engine"] == "codemod"
    assert sample["generation_error"] is None
    assert sample["checks"], sample  # it really ran through the checkers
    assert (out / "server.log").is_file()


def test_a_server_crash_or_hang_fails_that_sample_and_a_fresh_server_continues(tmp_path: Path):
    root = tmp_path / "dataset"
    for case_id, marker in [("sklearn-a-crash", "# CRASH\n"), ("sklearn-b-hang", "# HANG\n"), ("sklearn-c-ok", "")]:
        case = write_case(root, case_id=case_id, actions='["tracking.mlflow"]', gold=False)
        (case / "train.py").write_text(TRAIN + marker, encoding="utf-8")
    out = tmp_path / "out"
    fake = Path(__file__).with_name("fake_server.py")
    env = {"MLOPS_LSP_BENCH_SERVER": f"{sys.executable} {fake}", "MLOPS_LSP_BENCH_RESOLVE_TIMEOUT": "3"}
    done = run_bench("--dataset", root, "--strategy", "codemod", "--out", out, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    errors = {s["case"]: s["generation_error"] for s in load_results(out)["samples"]}
    assert "crashed during codeAction/resolve" in errors["sklearn-a-crash"]
    assert "codeAction/resolve timed out after 3s" in errors["sklearn-b-hang"]
    assert errors["sklearn-c-ok"] == "declined by the fake server"
    # One server for the crash, one for the hang, a third one for the rest.
    assert (out / "server.log").read_text(encoding="utf-8").count("--- server start") == 3
