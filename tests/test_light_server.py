"""The editor process stays light: serving imports none of the heavy libraries."""

import subprocess
import sys

HEAVY = ["torch", "mlflow", "wandb", "nncf", "numpy", "lancedb", "sklearn", "keras", "lightning", "optuna", "dvc",
         "git", "sentence_transformers", "pandas", "pyarrow", "openai", "llama_cpp"]


def test_server_and_cli_import_no_heavy_library():
    code = (
        "import sys; from mlops_lsp import cli, lsp; cli._build_parser(); "
        "from mlops_lsp.core import adapt; from mlops_lsp.options import Options; "
        "adapt(open('examples/sklearn_train.py').read(), 'tracking.mlflow', Options(strategy='codemod')); "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=__file__.rsplit("/tests/", 1)[0])
    assert run.returncode == 0, run.stderr
    loaded = set(run.stdout.split())
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
