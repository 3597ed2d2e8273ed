from . import Action

ACTION = Action(
    id='tracking.wandb',
    title='MLOps: Add Weights & Biases tracking',
    kind='inline',
    changes_training=True,
    library='wandb',
    frameworks=('pytorch', 'lightning', 'keras', 'sklearn'),
    checker="mlops_lsp.bench.checkers.tracking_wandb:check",
    task=(
        'Add Weights & Biases experiment tracking: wandb.init with a config of the hyperparameters, wandb.log of the losses/metrics where they are computed, and wandb.finish at the end.'
    ),
    requires=(
        (r"wandb\.init\(", "no run is started: call wandb.init(...)"),
        (r"\.log\(|WandbLogger\(", "nothing is logged: call run.log({...}) with the metrics"),
    ),
    per_epoch=(
        r"(?:^wandb|run)\.log$",
        "the metrics are logged once, after training: log them every epoch (in the epoch loop, or for Keras "
        "from `history = model.fit(...)`: `for epoch, value in enumerate(history.history[\"loss\"]): run.log({\"loss\": value}, step=epoch)`)",
    ),
)
