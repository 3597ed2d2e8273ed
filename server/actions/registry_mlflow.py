from . import Action

ACTION = Action(
    id='registry.mlflow',
    title='MLOps: Register the model in the MLflow Model Registry',
    kind='inline',
    changes_training=True,
    library='mlflow',
    frameworks=('pytorch', 'lightning', 'keras', 'sklearn'),
    checker="mlops_lsp.bench.checkers.registry_mlflow:check",
    task=(
        'Log the trained model to MLflow with the right flavour (mlflow.sklearn, mlflow.keras or mlflow.pytorch), with an input example, and register it in the MLflow Model Registry with registered_model_name.'
    ),
    requires=(
        (r"registered_model_name\s*=|register_model\(", "the model is not registered: pass registered_model_name=... to log_model"),
    ),
)
