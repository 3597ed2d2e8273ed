"""pruning.torch: the trained model has torch.nn.utils.prune masks (or baked-in zeros after
prune.remove) with sparsity >= 0.3 on the pruned layers, applied during training (optimizer steps
on that model after the first prune call). Evidence comes from the sandbox hook's report."""

from __future__ import annotations

from ..runner import Check, CheckContext

CHECKS = ("torch_prune_applied", "torch_prune_sparsity", "torch_prune_during_training")
LIBRARY_MODULES = ("torch.nn.utils.prune",)
MIN_SPARSITY = 0.3


def pruned_sparsity(model: dict) -> tuple[float, int]:
    """Zero fraction over the pruned Conv/Linear weights of a model, and how many layers were pruned."""
    layers = [l for l in model["layers"] if l["torch_pruned"] or l["torch_mask"]]
    total = sum(l["numel"] for l in layers)
    zeros = sum(l["sparsity"] * l["numel"] for l in layers)
    return (zeros / total if total else 0.0), len(layers)


def check(ctx: CheckContext) -> dict[str, Check]:
    torch_report = (ctx.report or {}).get("torch")
    if not torch_report:
        return {name: (False, "no torch activity recorded (no hook report or torch never imported)") for name in CHECKS}
    models = [m for m in torch_report["models"] if m["steps"] > 0]
    pruned = [(m, *pruned_sparsity(m)) for m in models]
    pruned = [p for p in pruned if p[2] > 0]
    sparse = [p for p in pruned if p[1] >= MIN_SPARSITY]
    during = [p for p in sparse if (p[0]["steps_after_torch_prune"] or 0) > 0]
    best = max((p[1] for p in pruned), default=0.0)
    return {
        "torch_prune_applied": (
            bool(pruned),
            f"no trained model has torch.nn.utils.prune applied to a Conv/Linear weight "
            f"({len(models)} trained model(s), {torch_report['prune_event_count']} prune call(s))",
        ),
        "torch_prune_sparsity": (bool(sparse), f"sparsity of the pruned layers {best:.2f} < {MIN_SPARSITY}"),
        "torch_prune_during_training": (
            bool(during),
            "no optimizer step after pruning started on the pruned model (prune during training, not after)",
        ),
    }
