"""hpo.optuna: a study with >= 2 COMPLETE trials over >= 1 hyperparameter whose name appears in the
original script (an identifier, argparse option or string there); the final training still running is
the runner's behaviour check.

Studies come from the sandbox hook's report (every study the script created or loaded, whatever
its storage); the sandbox's default SQLite storage is read directly when the report has none.
"""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

from ..runner import Check, CheckContext

CHECKS = ("optuna_study", "optuna_complete_trials", "optuna_original_hyperparameter")


def names_in_source(source: str) -> set[str]:
    """Identifiers, attribute and keyword names, and string constants (options normalised) of a script."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and len(node.value) < 80:
            text = node.value.strip()
            names.add(text)
            names.add(text.lstrip("-").replace("-", "_"))  # argparse "--hidden-size" -> dest hidden_size
    return {n.lower() for n in names if n}


def _normalise(name: str) -> str:
    return name.strip().lower().replace("-", "_")


def studies_from_db(path: Path) -> list[dict]:
    """Studies in an Optuna RDB (SQLite) file, read with the standard library."""
    if not path.is_file():
        return []
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        studies = []
        for study_id, name in connection.execute("SELECT study_id, study_name FROM studies"):
            trials = []
            for trial_id, state in connection.execute("SELECT trial_id, state FROM trials WHERE study_id = ?", (study_id,)):
                params = [p for (p,) in connection.execute("SELECT param_name FROM trial_params WHERE trial_id = ?", (trial_id,))]
                trials.append({"state": str(state), "params": sorted(params)})
            studies.append({"name": name, "trials": trials})
        return studies
    finally:
        connection.close()


def check(ctx: CheckContext) -> dict[str, Check]:
    studies = ((ctx.report or {}).get("optuna") or {}).get("studies") or []
    if not studies:
        try:
            studies = studies_from_db(ctx.workdir / "optuna.db")
        except sqlite3.Error as exc:
            return {name: (False, f"cannot read optuna.db: {exc}") for name in CHECKS}
    original_names = names_in_source(ctx.original)
    best_complete, best_matching, seen_params = 0, 0, set()
    for study in studies:
        complete = [t for t in study["trials"] if t["state"].endswith("COMPLETE")]
        best_complete = max(best_complete, len(complete))
        params = {p for t in complete for p in t["params"]}
        seen_params |= params
        matching = {p for p in params if _normalise(p) in original_names}
        if len(complete) >= 2:
            best_matching = max(best_matching, len(matching))
    return {
        "optuna_study": (bool(studies), "no Optuna study was created"),
        "optuna_complete_trials": (best_complete >= 2, f"no study with >= 2 COMPLETE trials (best: {best_complete})"),
        "optuna_original_hyperparameter": (
            best_matching >= 1,
            f"no tuned parameter name appears in the original script (tuned: {sorted(seen_params)[:8]})",
        ),
    }
