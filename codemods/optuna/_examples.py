"""Text shared by the hpo.optuna codemods' examples: every adapted script ends with the same
``objective(trial)`` and study, so the examples spell out only what differs (the script's own
code, the hyperparameters and their search ranges, the direction)."""

from __future__ import annotations

from ._engine import DEFAULT_TRIALS, PARAMS, RUN, TRIALS_ENV


def objective_and_study(suggestions: dict[str, str], direction: str, *, main_guard: bool) -> str:
    """``def objective(trial)`` setting ``suggestions`` (name -> ``trial.suggest_*`` call), then the
    study, the best parameters and the final run, at module level or under ``if __name__ == "__main__":``."""
    entries = "".join(f'            "{name}": {call},\n' for name, call in suggestions.items())
    objective = (
        "def objective(trial: optuna.Trial) -> float:\n"
        f"    {PARAMS}.update(\n"
        "        {\n"
        f"{entries}"
        "        }\n"
        "    )\n"
        f"    return float({RUN}())\n"
        "\n\n"
    )
    indent = "    " if main_guard else ""
    study = (
        f'study = optuna.create_study(direction="{direction}", sampler=optuna.samplers.TPESampler(seed=0))\n'
        "study.optimize(\n"
        "    objective,\n"
        f'    n_trials=int(os.environ.get("{TRIALS_ENV}", "{DEFAULT_TRIALS}")),\n'
        "    catch=(RuntimeError, ValueError, ArithmeticError),  # a failed trial is logged, the study goes on\n"
        ")\n"
        'print(f"best params: {study.best_params}")\n'
        f"{PARAMS}.update(study.best_params)\n"
        f"{RUN}()\n"
    )
    study = "".join(indent + line if line.strip() else line for line in study.splitlines(keepends=True))
    return objective + ('if __name__ == "__main__":\n' if main_guard else "") + study
