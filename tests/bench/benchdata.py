"""A tiny dataset for the bench tests: one sklearn case with a gold for tracking.mlflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TRAIN = '''\
import json

from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

ALPHA = 1.0


def main():
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    model = Ridge(alpha=ALPHA).fit(X_tr, y_tr)
    r2 = r2_score(y_te, model.predict(X_te))
    with open("metrics.json", "w") as f:
        json.dump({"r2": r2}, f)
    print(f"final test r2: {r2:.4f}")


if __name__ == "__main__":
    main()
'''

GOLD_TRACKING_MLFLOW = '''\
import json

import mlflow
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

ALPHA = 1.0


def main():
    X, y = load_diabetes(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=0)
    with mlflow.start_run():
        mlflow.log_params({"alpha": ALPHA})
        model = Ridge(alpha=ALPHA).fit(X_tr, y_tr)
        r2 = r2_score(y_te, model.predict(X_te))
        mlflow.log_metric("r2", r2)
    with open("metrics.json", "w") as f:
        json.dump({"r2": r2}, f)
    print(f"final test r2: {r2:.4f}")


if __name__ == "__main__":
    main()
'''

CASE_ID = "sklearn-tiny-ridge"


def write_case(root: Path, case_id: str = CASE_ID, actions: str = '["tracking.mlflow", "registry.mlflow"]',
               gold: bool = True) -> Path:
    """One case: train.py, case.toml (registry.mlflow has no gold, so `gold` skips it), gold."""
    case = root / case_id
    (case / "gold").mkdir(parents=True)
    (case / "train.py").write_text(TRAIN, encoding="utf-8")
    (case / "case.toml").write_text(
        f'framework = "sklearn"\nactions = {actions}\nargs = []\ntimeout = 60\n', encoding="utf-8"
    )
    if gold:
        (case / "gold" / "tracking.mlflow.py").write_text(GOLD_TRACKING_MLFLOW, encoding="utf-8")
    return case


def run_bench(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """The real console entry point, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "mlops_lsp", "bench", *map(str, args)],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=None if env is None else {**os.environ, **env},
    )
