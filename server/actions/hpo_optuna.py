from . import Action

ACTION = Action(
    id='hpo.optuna',
    title='MLOps: Add Optuna hyperparameter optimisation',
    kind='inline',
    library='optuna',
    frameworks=('pytorch', 'lightning', 'keras', 'sklearn'),
    checker="mlops_lsp.bench.checkers.hpo_optuna:check",
    task=(
        "Add Optuna hyperparameter optimisation: move the hyperparameters the script fixes into an objective(trial) that trains and returns the script's validation metric, run a study with a few trials in the right direction, then retrain with study.best_params, keeping the script's outputs."
    ),
    requires=(
        (r"create_study\(", "no study: call optuna.create_study(...)"),
        (r"\.optimize\(", "the study never runs: call study.optimize(objective, n_trials=...)"),
        (r"best_params", "the model is not retrained with study.best_params"),
    ),
)
