"""pruning.nncf: the trained model carries NNCF 3.x pruning masks (nncf.prune hooks), sparsity >= 0.3
on the pruned layers, and optimizer steps continue after pruning starts. Evidence comes from the
sandbox hook's report."""

from __future__ import annotations

from ..runner import Check, CheckContext

CHECKS = ("nncf_masks", "nncf_sparsity", "nncf_during_training")
LIBRARY_MODULES = ("nncf",)
MIN_SPARSITY = 0.3


def mask_sparsity(model: dict) -> float:
    masks = model["nncf_masks"]
    total = sum(m["numel"] for m in masks)
    return sum(m["sparsity"] * m["numel"] for m in masks) / total if total else 0.0


def check(ctx: CheckContext) -> dict[str, Check]:
    torch_report = (ctx.report or {}).get("torch")
    if not torch_report:
        return {name: (False, "no torch activity recorded (no hook report or torch never imported)") for name in CHECKS}
    models = [m for m in torch_report["models"] if m["steps"] > 0]
    masked = [m for m in models if m["nncf_masks"]]
    sparse = [m for m in masked if mask_sparsity(m) >= MIN_SPARSITY]
    during = [m for m in sparse if (m["steps_after_nncf_prune"] or 0) > 0]
    best = max((mask_sparsity(m) for m in masked), default=0.0)
    return {
        "nncf_masks": (
            bool(masked),
            f"no trained model carries NNCF pruning masks ({len(models)} trained model(s), "
            f"{torch_report['nncf_prune_calls']} nncf.prune call(s))",
        ),
        "nncf_sparsity": (bool(sparse), f"NNCF mask sparsity {best:.2f} < {MIN_SPARSITY} (step the pruning scheduler)"),
        "nncf_during_training": (
            bool(during),
            "no optimizer step on the model after nncf.prune (prune during training, not after)",
        ),
    }
