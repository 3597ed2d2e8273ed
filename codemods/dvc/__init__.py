"""DVC codemods (translate.gitpython-dvc)."""
