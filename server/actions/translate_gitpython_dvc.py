from . import Action

ACTION = Action(
    id='translate.gitpython-dvc',
    title='MLOps: Translate GitPython version control to DVC',
    kind='translate',
    library='dvc',
    frameworks=('gitpython',),
    checker="mlops_lsp.bench.checkers.translate_gitpython_dvc:check",
    task=(
        "Translate data versioning done with GitPython and git-lfs into DVC's Python API: dvc.repo.Repo.init/add/commit/push with a DVC remote configured from the script's git remote; git keeps the .dvc files and the script's other git operations."
    ),
)
