from . import Action

ACTION = Action(
    id='tracking.mlflow',
    title='MLOps: Add MLflow experiment tracking',
    kind='inline',
    changes_training=True,
    library='mlflow',
    frameworks=('pytorch', 'lightning', 'keras', 'sklearn'),
    checker="mlops_lsp.bench.checkers.tracking_mlflow:check",
    task=(
        'Add MLflow experiment tracking: start a run around the training, log the hyperparameters as params and the losses/metrics the script computes as metrics (per step or per epoch for iterative training).'
    ),
    requires=(
        (r"\blog_params?\(|\blog_metrics?\(|autolog\(|MLFlowLogger\(", "nothing is logged: call mlflow.log_params(...) and mlflow.log_metric(...)"),
    ),
    per_epoch=(
        r"mlflow\.log_metrics?$",
        "the metrics are logged once, after training: log them every epoch (in the epoch loop, or for Keras "
        "from `history = model.fit(...)`: `for epoch, value in enumerate(history.history[\"loss\"]): mlflow.log_metric(\"loss\", value, step=epoch)`)",
    ),
)
