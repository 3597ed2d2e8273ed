"""Codemods whose target library is MLflow (tracking.mlflow, registry.mlflow)."""
