"""Query the sandbox's MLflow store (run in a subprocess by the checkers; imports mlflow).

    python -m mlops_lsp.bench.checkers.probe_mlflow runs       # every run: status, params, metric steps
    python -m mlops_lsp.bench.checkers.probe_mlflow registry   # registered models, versions, load test

Uses MLFLOW_TRACKING_URI / MLFLOW_REGISTRY_URI from the (sandbox) environment. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys

MAX_VERSIONS_LOADED = 3  # per model, newest first: loading is slow


def _db_exists() -> bool:
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    return not uri.startswith("sqlite:///") or os.path.exists(uri[len("sqlite:///"):])


def runs() -> dict:
    if not _db_exists():
        return {"runs": [], "note": "no MLflow store was created"}
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    experiments = client.search_experiments(view_type=ViewType.ALL)
    found = []
    for run in client.search_runs([e.experiment_id for e in experiments], run_view_type=ViewType.ALL, max_results=1000):
        metrics = {}
        for key in run.data.metrics:
            history = client.get_metric_history(run.info.run_id, key)
            metrics[key] = sorted({m.step for m in history})
        found.append({
            "run_id": run.info.run_id,
            "status": run.info.status,
            "params": sorted(run.data.params),
            "metrics": metrics,
        })
    return {"runs": found}


def registry() -> dict:
    if not _db_exists():
        return {"models": [], "note": "no MLflow store was created"}
    import mlflow
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    models = []
    for model in client.search_registered_models(max_results=1000):
        versions = sorted(client.search_model_versions(f"name = '{model.name}'"), key=lambda v: -int(v.version))
        entries = []
        for index, version in enumerate(versions):
            entry = {"version": str(version.version), "status": version.status, "loads": None, "error": None}
            if version.status == "READY" and index < MAX_VERSIONS_LOADED:
                try:
                    loaded = mlflow.pyfunc.load_model(f"models:/{model.name}/{version.version}")
                    entry["loads"] = loaded is not None
                    entry["flavors"] = sorted(getattr(loaded.metadata, "flavors", {}) or {})
                except Exception as exc:  # the verdict needs the reason, whatever it is
                    entry["loads"] = False
                    entry["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            entries.append(entry)
        models.append({"name": model.name, "versions": entries})
    return {"models": models}


def main(argv: list[str]) -> int:
    commands = {"runs": runs, "registry": registry}
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: probe_mlflow {'|'.join(commands)}", file=sys.stderr)
        return 2
    result = commands[argv[0]]()
    sys.stdout.flush()
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
