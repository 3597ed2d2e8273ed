"""Codemods whose target library is Optuna (hpo.optuna), one per framework shape."""
