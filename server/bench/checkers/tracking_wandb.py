"""tracking.wandb: an offline run with non-empty config and >= 1 history row (>= 2 for iterative
trainers) that exited with code 0, read back from the run's `.wandb` log (see wandb_reader)."""

from __future__ import annotations

from ..runner import Check, CheckContext

CHECKS = ("wandb_offline_run", "wandb_config", "wandb_history", "wandb_exit_code")


def check(ctx: CheckContext) -> dict[str, Check]:
    # WANDB_DIR is the workdir; a script may also pass its own dir=, so search the whole workdir.
    logs = sorted(str(p) for p in ctx.workdir.rglob("*.wandb") if p.parent.name.startswith("offline-run-"))
    if not logs:
        return {"wandb_offline_run": (False, "no offline run log (wandb/offline-run-*/run-*.wandb) in the sandbox")} | {
            name: (False, "no offline run") for name in CHECKS[1:]
        }
    runs, why = ctx.probe("wandb_reader", *logs)
    if runs is None:
        return {name: (False, why) for name in CHECKS}
    readable = [r for r in runs if "error" not in r]
    rows_needed = 2 if ctx.iterative else 1
    with_config = [r for r in readable if r["config"]]
    with_history = [r for r in with_config if r["history_rows"] >= rows_needed]
    exited = [r for r in with_history if r["exit_code"] == 0]
    errors = "; ".join(r["error"] for r in runs if "error" in r)
    return {
        "wandb_offline_run": (bool(readable), f"offline run log unreadable: {errors}"),
        "wandb_config": (bool(with_config), "the run's config is empty (pass hyperparameters to wandb.init(config=...))"),
        "wandb_history": (
            bool(with_history),
            f"no run with config and >= {rows_needed} history rows (rows: {[r['history_rows'] for r in readable]})",
        ),
        "wandb_exit_code": (
            bool(exited),
            f"the run did not finish with exit code 0 (codes: {[r['exit_code'] for r in with_history]}; call wandb.finish())",
        ),
    }
