"""registry.mlflow: a registered model with a READY version that loads back with mlflow.pyfunc.load_model."""

from __future__ import annotations

from ..runner import Check, CheckContext

CHECKS = ("registered_model", "model_version_ready", "model_loads")


def check(ctx: CheckContext) -> dict[str, Check]:
    data, why = ctx.probe("probe_mlflow", "registry")
    if data is None:
        return {name: (False, why) for name in CHECKS}
    models = data["models"]
    ready = [(m["name"], v) for m in models for v in m["versions"] if v["status"] == "READY"]
    loaded = [(name, v) for name, v in ready if v["loads"]]
    errors = "; ".join(f"{name} v{v['version']}: {v['error']}" for name, v in ready if v.get("error"))
    statuses = ", ".join(f"{m['name']}: {[v['status'] for v in m['versions']]}" for m in models)
    return {
        "registered_model": (bool(models), "no registered model in the MLflow registry"),
        "model_version_ready": (bool(ready), f"no READY model version ({statuses or 'no versions'})"),
        "model_loads": (bool(loaded), f"no READY version loads with mlflow.pyfunc.load_model: {errors or 'none tried'}"),
    }
