"""The attribute check, in its real subprocess (the libraries are imported there, not here)."""

from __future__ import annotations

import sys

from mlops_lsp import attrcheck


def test_paths_resolve_import_aliases() -> None:
    code = ("import mlflow\nimport mlflow.sklearn as ms\nfrom mlflow.tracking import MlflowClient\n"
            "import numpy as np\nms.log_model(m, name='m')\nMlflowClient().search_runs\nnp.zeros(3)\n")
    assert attrcheck.library_paths(code, {"mlflow"}) == [
        "mlflow", "mlflow.sklearn", "mlflow.tracking.MlflowClient", "mlflow.sklearn.log_model"]


def test_a_name_the_code_rebinds_is_not_judged_as_the_module() -> None:
    # Seen from Qwen2.5-Coder-1.5B: the module name reused for the study object.
    code = ("import optuna\nfrom optuna import study\n\ndef objective(trial):\n    return 1.0\n\n"
            "study = optuna.create_study(direction='minimize')\nstudy.optimize(objective, n_trials=3)\n")
    assert attrcheck.library_paths(code, {"optuna"}) == ["optuna", "optuna.create_study"]
    assert attrcheck.problems(code, {"optuna"}, set()) == []


def test_missing_attribute_gets_the_submodule_that_has_it() -> None:
    code = "import mlflow\nmlflow.log_model(model, name='m')\n"
    assert attrcheck.problems(code, {"mlflow"}, {"sklearn"}) == [
        "mlflow has no attribute log_model; did you mean mlflow.sklearn.log_model?"]


def test_existing_paths_pass_and_typos_get_close_names() -> None:
    code = ("import mlflow\nimport mlflow.sklearn\nmlflow.sklearn.log_model(m, name='m')\n"
            "with mlflow.start_run():\n    mlflow.log_metrc('a', 1)\n")
    found = attrcheck.problems(code, {"mlflow"}, {"sklearn"})
    assert len(found) == 1
    assert found[0].startswith("mlflow has no attribute log_metrc; did you mean mlflow.log_metric")


def test_the_server_process_does_not_import_the_library() -> None:
    attrcheck.problems("import optuna\noptuna.create_study(direction='minimize')\n", {"optuna"})
    assert "optuna" not in sys.modules
