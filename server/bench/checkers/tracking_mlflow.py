"""tracking.mlflow: a FINISHED run with >= 1 param and >= 1 metric; iterative trainers log a metric at >= 2 steps."""

from __future__ import annotations

from ..runner import Check, CheckContext

CHECKS = ("mlflow_run_finished", "mlflow_params_logged", "mlflow_metrics_logged", "mlflow_metric_steps")


def check(ctx: CheckContext) -> dict[str, Check]:
    data, why = ctx.probe("probe_mlflow", "runs")
    if data is None:
        return {name: (False, why) for name in CHECKS}
    runs = data["runs"]
    finished = [r for r in runs if r["status"] == "FINISHED"]
    with_params = [r for r in finished if r["params"]]
    with_metrics = [r for r in with_params if r["metrics"]]
    steps_needed = 2 if ctx.iterative else 1
    stepped = [r for r in with_metrics if max(len(s) for s in r["metrics"].values()) >= steps_needed]
    statuses = ", ".join(sorted({r["status"] for r in runs})) or "none"
    return {
        "mlflow_run_finished": (bool(finished), f"no FINISHED run (runs: {len(runs)}, statuses: {statuses})"),
        "mlflow_params_logged": (bool(with_params), "no FINISHED run with a logged param"),
        "mlflow_metrics_logged": (bool(with_metrics), "no FINISHED run with both a param and a metric"),
        "mlflow_metric_steps": (
            bool(stepped),
            f"no metric logged at >= {steps_needed} distinct steps in a FINISHED run with params"
            + (" (iterative trainer)" if ctx.iterative else ""),
        ),
    }
