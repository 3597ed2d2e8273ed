"""Scoring (results.json's summary) and the human report (report.md)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from .passk import mean_pass_at_k

# Published Pass@3 of "Automating Code Adaptation for MLOps" (Patel et al., 2024), best settings,
# by task family; the translation task had no Pass@3 in that form.
STUDY_PASS_AT_3: dict[str, dict[str, float]] = {
    "model optimisation": {"gpt-3.5-turbo": 0.55, "WizardCoder-15B": 0.0},
    "experiment tracking": {"gpt-3.5-turbo": 1.0, "WizardCoder-15B": 0.625},
    "model registration": {"gpt-3.5-turbo": 0.92, "WizardCoder-15B": 0.42},
    "hyperparameter optimisation": {"gpt-3.5-turbo": 0.83, "WizardCoder-15B": 0.58},
}
STUDY_MODELS = ("gpt-3.5-turbo", "WizardCoder-15B")


def study_task(action_id: str) -> str | None:
    """The study's task family for an action id, or None when the study has no comparable number."""
    family = action_id.split(".", 1)[0]
    if family == "pruning":
        return "model optimisation"
    if family == "tracking":
        return "experiment tracking"
    if action_id == "registry.mlflow":
        return "model registration"
    if action_id == "hpo.optuna":
        return "hyperparameter optimisation"
    return None


# ---------------------------------------------------------------- summary


def _temperature_key(value: float) -> str:
    return f"{value:g}"


def score(samples: Sequence[dict[str, Any]], ks: Iterable[int]) -> dict[str, Any]:
    """pass@k of a group of samples: per task (case, action) at each temperature, averaged over tasks.

    With several temperatures, each pass@k column is the best temperature's value (the study
    reports its best settings) and ``by_temperature`` keeps every temperature's values.
    """
    ks = list(ks)
    # temperature -> (case, action) -> [n, c]
    counts: dict[float, dict[tuple[str, str], list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for sample in samples:
        task = counts[sample["temperature"]][(sample["case"], sample["action"])]
        task[0] += 1
        task[1] += int(bool(sample["passed"]))
    block: dict[str, Any] = {
        "cases": len({s["case"] for s in samples}),
        "tasks": len({(s["case"], s["action"]) for s in samples}),
        "samples": len(samples),
        "passed": sum(bool(s["passed"]) for s in samples),
    }
    by_temperature = {
        temperature: mean_pass_at_k([tuple(nc) for nc in tasks.values()], ks)
        for temperature, tasks in sorted(counts.items())
    }
    if len(by_temperature) == 1:
        block.update(next(iter(by_temperature.values())))
    elif by_temperature:
        columns = sorted({column for values in by_temperature.values() for column in values}, key=_k_of)
        for column in columns:
            best = max((t for t in by_temperature if column in by_temperature[t]), key=lambda t: by_temperature[t][column])
            block[column] = by_temperature[best][column]
            block.setdefault("best_temperature", {})[column] = best
        block["by_temperature"] = {_temperature_key(t): values for t, values in by_temperature.items()}
    return block


def _k_of(column: str) -> int:
    return int(column.split("@", 1)[1])


def summarize(samples: Sequence[dict[str, Any]], ks: Iterable[int]) -> dict[str, Any]:
    ks = list(ks)
    by_action: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample in samples:
        by_action[sample["action"]].append(sample)
    summary = {action: score(group, ks) for action, group in sorted(by_action.items())}
    summary["overall"] = score(samples, ks)
    return summary


def by_framework(samples: Sequence[dict[str, Any]], ks: Iterable[int]) -> dict[str, Any]:
    ks = list(ks)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for sample in samples:
        groups[sample["framework"]].append(sample)
    return {framework: score(group, ks) for framework, group in sorted(groups.items())}


def build_results(
    config: dict[str, Any], samples: list[dict[str, Any]], ks: Iterable[int], stats: dict[str, Any]
) -> dict[str, Any]:
    ordered = sorted(
        ({key: value for key, value in s.items() if key != "logs"} for s in samples),
        key=lambda s: (s["case"], s["action"], s["temperature"], s["sample"]),
    )
    return {
        "config": config,
        "samples": ordered,
        "summary": summarize(ordered, ks),
        "by_framework": by_framework(ordered, ks),
        "stats": stats,
    }


# ---------------------------------------------------------------- report.md


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def _cell(text: Any) -> str:
    """One table cell: a single line, pipes escaped, long reasons shortened."""
    line = " ".join(str(text).split())
    if len(line) > 160:
        line = line[:157] + "..."
    return line.replace("|", "\\|") or "—"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _k_columns(results: dict[str, Any]) -> list[str]:
    columns = {key for block in results["summary"].values() for key in block if key.startswith("pass@")}
    return sorted(columns, key=_k_of)


def first_failure(sample: dict[str, Any]) -> tuple[str, str]:
    """(first failing check, its reason); the error when no check failed (e.g. generation failed)."""
    for name, ok in sample.get("checks", {}).items():
        if not ok:
            reason = sample.get("reasons", {}).get(name) or sample.get("error") or ""
            return name, reason
    if sample.get("generation_error"):
        return "generation", sample["generation_error"]
    return "—", sample.get("error") or "failed without a failing check"


def render_report(results: dict[str, Any]) -> str:
    config, summary, samples = results["config"], results["summary"], results["samples"]
    columns = _k_columns(results)
    strategy = config["strategy"]
    lines = [f"# mlops-lsp bench: `{strategy}`", ""]
    lines += [
        f"- dataset: `{config['dataset']}` (hash `{config['dataset_hash']}`)",
        f"- strategy: `{strategy}`, model: `{config['model']}`, retrieval: `{config['retrieval']}`",
        f"- temperatures: {', '.join(f'{t:g}' for t in config['temperatures'])}; samples per task: {config['samples']}; "
        f"seed: {config['seed']} (sample i uses seed + i)",
        f"- mlops-lsp {config['mlops_lsp_version']}, commit `{config['git_commit']}`, finished {config['finished_at']}",
        "",
    ]
    if strategy == "identity":
        lines += ["Checker validation: `identity` runs the ORIGINAL scripts, so every sample must FAIL (pass@k 0).", ""]
    elif strategy == "gold":
        lines += ["Checker validation: `gold` runs the hand-written adaptations, so every sample must PASS.", ""]

    lines += ["## Pass@k per action", ""]
    header = ["action", "cases", "samples", "passed", *columns] + [f"study Pass@3 {model}" for model in STUDY_MODELS]
    rows = []
    for action, block in summary.items():
        if action == "overall":
            continue
        task = study_task(action)
        study = [_percent(STUDY_PASS_AT_3[task][model]) if task else "—" for model in STUDY_MODELS]
        rows.append([f"`{action}`", str(block["cases"]), str(block["samples"]), str(block["passed"]),
                     *[_percent(block.get(c)) for c in columns], *study])
    overall = summary["overall"]
    rows.append(["**overall**", str(overall["cases"]), str(overall["samples"]), str(overall["passed"]),
                 *[_percent(overall.get(c)) for c in columns], "—", "—"])
    lines += _table(header, rows)
    lines += [
        "",
        "Study: Patel et al., 2024, \"Automating Code Adaptation for MLOps\", Pass@3 at its best settings "
        "(pruning -> model optimisation, tracking -> experiment tracking, registry -> model registration, "
        "HPO; the GitPython -> DVC translation had no Pass@3 in that form: —). pass@k here is the unbiased "
        "estimator averaged over cases; a k larger than the samples per task is not reported.",
        "",
    ]
    if "pass@3" not in columns:
        lines += ["No pass@3 here (fewer than 3 samples per task): run with `-n 3` or more for a number comparable "
                  "to the study's Pass@3.", ""]
    if any("by_temperature" in block for block in summary.values()):
        lines += ["With several temperatures each column shows the best temperature; per temperature:", ""]
        trows = []
        for action, block in summary.items():
            for temperature, values in block.get("by_temperature", {}).items():
                trows.append([f"`{action}`", temperature, *[_percent(values.get(c)) for c in columns]])
        lines += _table(["action", "temperature", *columns], trows) + [""]

    lines += ["## Per framework", ""]
    frows = [
        [framework, str(block["cases"]), str(block["tasks"]), str(block["samples"]), *[_percent(block.get(c)) for c in columns]]
        for framework, block in results["by_framework"].items()
    ]
    lines += _table(["framework", "cases", "tasks", "samples", *columns], frows) + [""]

    if strategy not in ("gold", "identity"):
        lines += _generation_section(samples)

    failed = [s for s in samples if not s["passed"]]
    if strategy == "identity":
        unexpected = [s for s in samples if s["passed"]]
        lines += ["## Unexpected passes", ""]
        if unexpected:
            lines += ["These ORIGINAL scripts passed a checker: the checker does not verify the effect.", ""]
            lines += _table(["case", "action", "sample"], [[s["case"], f"`{s['action']}`", _stem(s)] for s in unexpected])
        else:
            lines += ["None: every checker rejects every original script."]
        lines += [""]
    lines += [f"## Failures ({len(failed)} of {len(samples)} samples)", ""]
    if failed:
        rows = []
        for s in failed:
            check, reason = first_failure(s)
            rows.append([s["case"], f"`{s['action']}`", _stem(s), _cell(check), _cell(reason)])
        lines += _table(["case", "action", "sample", "first failing check", "reason"], rows)
    else:
        lines += ["None."]
    skipped = config.get("skipped") or []
    if skipped:
        lines += ["", "## Skipped", ""]
        lines += [f"- {item['case']} / `{item['action']}`: {item['reason']}" for item in skipped]
    stats = results.get("stats") or {}
    if stats:
        lines += ["", f"Run: {stats.get('planned')} samples planned; in this run {stats.get('generated')} generated, "
                      f"{stats.get('executed')} executed in the sandbox, {stats.get('reused')} reused from earlier runs; "
                      f"{stats.get('seconds')} s."]
    return "\n".join(lines) + "\n"


def _stem(sample: dict[str, Any]) -> str:
    return f"t{sample['temperature']:g}-s{sample['sample']}"


def _generation_section(samples: Sequence[dict[str, Any]]) -> list[str]:
    engines: dict[str, int] = defaultdict(int)
    for s in samples:
        engines[s.get("engine") or "none"] += 1
    prompt = sum(s["tokens"].get("prompt", 0) for s in samples)
    completion = sum(s["tokens"].get("completion", 0) for s in samples)
    seconds = [s.get("generation_seconds") or 0.0 for s in samples]
    no_source = sum(1 for s in samples if s.get("generation_error"))
    mean = sum(seconds) / len(seconds) if seconds else 0.0
    return [
        "## Generation",
        "",
        f"- engines: {', '.join(f'{name} {count}' for name, count in sorted(engines.items()))}",
        f"- tokens: {prompt} prompt, {completion} completion",
        f"- mean generation time: {mean:.2f} s per sample; {no_source} sample(s) produced no source",
        "- the language server's log: `server.log` next to this report",
        "",
    ]


def summary_line(results: dict[str, Any]) -> str:
    overall = results["summary"]["overall"]
    scores = ", ".join(f"{c} {_percent(overall[c])}" for c in _k_columns(results) if c in overall)
    best = " (best temperature per k)" if "by_temperature" in overall else ""
    return f"bench: {overall['passed']}/{overall['samples']} samples passed; overall {scores}{best}"
