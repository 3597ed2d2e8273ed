import pytest

from mlops_lsp.bench.report import build_results, first_failure, render_report, study_task, summarize


def sample(case, action, passed, *, sample=0, temperature=0.2, framework="sklearn", checks=None, reasons=None, error=None):
    return {
        "case": case, "action": action, "framework": framework, "strategy": "llm", "temperature": temperature,
        "sample": sample, "passed": passed, "checks": checks if checks is not None else {"runs": passed},
        "reasons": reasons or {}, "error": error, "seconds": 1.0, "tokens": {"prompt": 10, "completion": 5},
        "engine": "llm", "generation_seconds": 0.5, "generation_error": None,
    }


CONFIG = {
    "dataset": "/d", "dataset_hash": "abc", "strategy": "llm", "model": "openai:x", "retrieval": "none",
    "temperatures": [0.2], "samples": 3, "seed": 0, "mlops_lsp_version": "0.1.0", "git_commit": None,
    "finished_at": "now", "skipped": [],
}


def test_summary_averages_pass_at_k_over_cases():
    samples = (
        [sample("a", "tracking.mlflow", p, sample=i) for i, p in enumerate([True, False, False])]
        + [sample("b", "tracking.mlflow", p, sample=i) for i, p in enumerate([False, False, False])]
        + [sample("a", "hpo.optuna", p, sample=i) for i, p in enumerate([True, True, True])]
    )
    summary = summarize(samples, [1, 3, 5])
    tracking = summary["tracking.mlflow"]
    assert tracking["cases"] == 2 and tracking["samples"] == 6
    assert tracking["pass@1"] == pytest.approx((1 / 3 + 0) / 2)
    assert tracking["pass@3"] == pytest.approx((1 + 0) / 2)
    assert "pass@5" not in tracking  # k > n
    assert summary["hpo.optuna"]["pass@1"] == 1.0
    overall = summary["overall"]
    assert overall["tasks"] == 3 and overall["cases"] == 2
    assert overall["pass@1"] == pytest.approx((1 / 3 + 0 + 1) / 3)


def test_several_temperatures_report_the_best_and_each():
    samples = [sample("a", "tracking.wandb", False, temperature=0.2), sample("a", "tracking.wandb", True, temperature=0.8)]
    block = summarize(samples, [1])["tracking.wandb"]
    assert block["pass@1"] == 1.0
    assert block["best_temperature"]["pass@1"] == 0.8
    assert block["by_temperature"] == {"0.2": {"pass@1": 0.0}, "0.8": {"pass@1": 1.0}}


def test_study_mapping():
    assert study_task("pruning.nncf") == study_task("pruning.torch") == "model optimisation"
    assert study_task("tracking.wandb") == "experiment tracking"
    assert study_task("registry.mlflow") == "model registration"
    assert study_task("hpo.optuna") == "hyperparameter optimisation"
    assert study_task("translate.gitpython-dvc") is None


def test_first_failure_names_the_first_failing_check():
    failed = sample("a", "tracking.mlflow", False, checks={"parses": True, "runs": False, "effect": False},
                    reasons={"runs": "exit 1: NameError", "effect": "no run"})
    assert first_failure(failed) == ("runs", "exit 1: NameError")
    no_source = sample("a", "tracking.mlflow", False, checks={}, error="action not offered")
    no_source["generation_error"] = "action not offered"
    assert first_failure(no_source) == ("generation", "action not offered")


def test_report_tables():
    samples = [
        sample("a", "pruning.torch", True, framework="pytorch"),
        sample("a", "translate.gitpython-dvc", False, framework="gitpython",
               checks={"runs": True, "dvc_tracked": False}, reasons={"dvc_tracked": "no .dvc file | none"}),
    ]
    results = build_results(dict(CONFIG, samples=1), samples, [1, 3], {"planned": 2})
    text = render_report(results)
    lines = text.splitlines()
    pruning = next(line for line in lines if line.startswith("| `pruning.torch`"))
    assert "100.0%" in pruning and "55.0%" in pruning and "0.0%" in pruning  # ours, gpt-3.5, WizardCoder
    translate = next(line for line in lines if line.startswith("| `translate.gitpython-dvc`"))
    assert translate.endswith("| — | — |")
    header = next(line for line in lines if line.startswith("| action | cases"))
    assert "pass@1" in header and "pass@3" not in header  # k > n (one sample per task)
    assert "## Per framework" in text and "| gitpython |" in text and "| pytorch |" in text
    failures = text.split("## Failures (1 of 2 samples)")[1]
    assert "dvc_tracked" in failures and "no .dvc file \\| none" in failures
    assert "## Generation" in text and "tokens: 20 prompt, 10 completion" in text


def test_identity_report_lists_unexpected_passes():
    config = dict(CONFIG, strategy="identity")
    results = build_results(config, [sample("a", "tracking.mlflow", True)], [1], {})
    text = render_report(results)
    assert "These ORIGINAL scripts passed a checker" in text
