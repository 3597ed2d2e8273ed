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


def test_calls_are_collected_with_their_shape_and_calls_on_instances_are_not() -> None:
    code = ("from dvc.repo import Repo as DvcRepo\nimport mlflow\n"
            "repo = DvcRepo.init(path, no_scm=True)\nrepo.add('data.csv')\n"
            "mlflow.log_param(*pair)\nmlflow.log_params(**extra)\nmlflow.tracking.MlflowClient().search_runs(['0'])\n")
    assert attrcheck.library_calls(code, {"dvc", "mlflow"}) == [
        attrcheck.CallShape("dvc.repo.Repo.init", 1, ("no_scm",), star_args=False, star_kwargs=False),
        attrcheck.CallShape("mlflow.log_param", 0, (), star_args=True, star_kwargs=False),
        attrcheck.CallShape("mlflow.log_params", 0, (), star_args=False, star_kwargs=True),
        attrcheck.CallShape("mlflow.tracking.MlflowClient", 0, (), star_args=False, star_kwargs=False)]


def test_a_wrong_keyword_for_a_required_parameter_names_the_parameter() -> None:
    # Seen from Qwen2.5-Coder-1.5B: log_model takes **kwargs, so 'model' is swallowed and sk_model is missing.
    code = ("import mlflow\nimport mlflow.sklearn\n"
            "mlflow.sklearn.log_model(model=regressor, name='tree', registered_model_name='tree')\n")
    found = attrcheck.problems(code, {"mlflow"}, {"sklearn"})
    assert len(found) == 1
    assert found[0].startswith("mlflow.sklearn.log_model() is missing its required argument 'sk_model'")
    assert "'model'" in found[0]


def test_an_unknown_keyword_lists_the_parameters_the_installed_version_has() -> None:
    code = "from dvc.repo import Repo as DvcRepo\nDvcRepo.init(path, initial_branch='main')\n"
    assert attrcheck.problems(code, {"dvc"}) == [
        "dvc.repo.Repo.init() has no parameter 'initial_branch'; its parameters are: root_dir, no_scm, force, subdir"]


def test_too_many_positional_arguments_says_what_goes_by_keyword() -> None:
    code = "import nncf\nnncf.prune(model, nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, 0.5)\n"
    found = attrcheck.problems(code, {"nncf"})
    assert len(found) == 1
    assert found[0].startswith("nncf.prune() got too many positional arguments (3 given, takes 2: model, mode)")
    assert "ratio" in found[0]


def test_calls_that_bind_give_no_problem() -> None:
    code = ("import mlflow\nimport mlflow.sklearn\nimport nncf\nfrom dvc.repo import Repo as DvcRepo\n"
            "mlflow.sklearn.log_model(regressor, name='m', registered_model_name='m')\n"
            "mlflow.log_params({'a': 1})\nDvcRepo.init(root_dir=p)\n"
            "nncf.prune(model, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, ratio=0.5, examples_inputs=x)\n")
    assert attrcheck.problems(code, {"mlflow", "nncf", "dvc"}, {"sklearn"}) == []


def test_a_function_with_var_keywords_accepts_unknown_keywords_and_one_without_does_not() -> None:
    accepted = "import mlflow.sklearn\nmlflow.sklearn.log_model(m, name='m', some_future_option=1)\n"
    assert attrcheck.problems(accepted, {"mlflow"}, {"sklearn"}) == []
    rejected = "import mlflow\nmlflow.log_params({'a': 1}, stepp=1)\n"
    found = attrcheck.problems(rejected, {"mlflow"})
    assert len(found) == 1 and found[0].startswith("mlflow.log_params() has no parameter 'stepp'")


def test_star_args_in_the_call_suppress_the_positional_checks() -> None:
    assert attrcheck.problems("import mlflow\nmlflow.log_param(*pair, 1, 2, 3, 4)\nmlflow.log_params(*a)\n",
                              {"mlflow"}) == []
    found = attrcheck.problems("import mlflow\nmlflow.log_param('a', 1, 2, 3, 4)\n", {"mlflow"})
    assert len(found) == 1 and found[0].startswith("mlflow.log_param() got too many positional arguments")


def test_a_call_of_a_missing_attribute_gets_only_the_attribute_message() -> None:
    code = "import mlflow\nmlflow.log_metrc('a', 1, not_a_parameter=2)\n"
    found = attrcheck.problems(code, {"mlflow"})
    assert len(found) == 1 and found[0].startswith("mlflow has no attribute log_metrc")


def test_module_functions_standing_for_run_methods_are_called_without_self() -> None:
    # wandb.log wraps Run.log (self, data, ...); wandb.config refuses attribute reads before wandb.init.
    code = ("import wandb\nwandb.init(project='p', mode='offline')\nwandb.log({'a': 1}, step=1)\n"
            "wandb.config.update({'lr': 0.1})\nwandb.log({'a': 1}, stepp=2)\n")
    found = attrcheck.problems(code, {"wandb"})
    assert len(found) == 1 and found[0].startswith("wandb.log() has no parameter 'stepp' (did you mean 'step'?)")


def test_keras_flavour_is_checked_with_the_benchmark_backend() -> None:
    # mlflow.keras imports Keras, whose default backend (TensorFlow) is not installed: the worker uses torch.
    code = "import mlflow\nimport mlflow.keras\nmlflow.keras.log_model(keras_model=model, name='m')\n"
    found = attrcheck.problems(code, {"mlflow"}, {"keras"})
    assert len(found) == 1 and found[0].startswith("mlflow.keras.log_model() has no parameter 'keras_model'")


def test_attributes_of_a_returned_value_are_checked_against_the_declared_class() -> None:
    # Seen from Qwen2.5-Coder-1.5B: sklearn's `best_params_` on an Optuna study, and GitPython's
    # `config_writer` on the DVC repository that replaced the git one.
    study = ("import optuna\n\ndef objective(trial):\n    return trial.suggest_float('x', 0, 1)\n\n"
             "study = optuna.create_study(direction='minimize')\nstudy.optimize(objective, n_trials=3)\n"
             "print(study.best_params_, study.best_value, study.study_name)\n")
    assert attrcheck.library_value_attributes(study, {"optuna"}) == [
        attrcheck.ValueAttribute("study", "optuna.create_study", name) for name in
        ("best_params_", "best_value", "optimize", "study_name")]
    found = attrcheck.problems(study, {"optuna"})
    assert len(found) == 1 and found[0].startswith(
        "study (the value of optuna.create_study()) has no attribute best_params_: it is a optuna.study.study.Study;"
        " did you mean best_params")
    dvc = ("from dvc.repo import Repo as DvcRepo\nrepo = DvcRepo.init('data-repo')\n"
           "with repo.config_writer() as config:\n    config.set_value('user', 'name', 'Bot')\nrepo.add('data.csv')\n")
    assert [m.split(":")[0] for m in attrcheck.problems(dvc, {"dvc"})] == [
        "repo (the value of dvc.repo.Repo.init()) has no attribute config_writer"]


def test_a_name_bound_twice_or_to_an_undeclared_return_is_not_judged() -> None:
    twice = ("import optuna\nstudy = optuna.create_study()\nstudy = make_other()\nstudy.best_params_\n")
    assert attrcheck.library_value_attributes(twice, {"optuna"}) == []
    # torch.load declares `-> Any`; instance attributes set in __init__ count (Study.study_name).
    loaded = "import torch\ncheckpoint = torch.load('m.pt')\ncheckpoint.get('state')\n"
    assert attrcheck.problems(loaded, {"torch"}) == []


def test_sklearn_spelling_of_a_fitted_attribute_is_corrected_where_the_class_has_the_plain_one() -> None:
    # Qwen2.5-Coder-1.5B wrote `study.best_params_` in every sklearn HPO sample of session 7's run and
    # kept it through both repair rounds that said "did you mean best_params".
    study = ("import optuna\n\ndef objective(trial):\n    return trial.suggest_float('x', 0, 1)\n\n"
             "study = optuna.create_study()\nstudy.optimize(objective, n_trials=3)\n"
             "print(study.best_params_, study.best_value)  # best_params_\nbest = study.best_trial_\n")
    corrected = attrcheck.without_fitted_underscores(study, {"optuna"})
    assert corrected == study.replace("study.best_params_,", "study.best_params,").replace(
        "study.best_trial_", "study.best_trial")
    assert attrcheck.problems(corrected, {"optuna"}) == []
    # Not a library value, a class that is not known, or no plain attribute: left as written.
    model = "from sklearn.tree import DecisionTreeRegressor\nm = DecisionTreeRegressor().fit(X, y)\nm.n_features_in_\n"
    assert attrcheck.without_fitted_underscores(model, {"optuna"}) == model
    unknown = "import torch\ncheckpoint = torch.load('m.pt')\ncheckpoint.state_\n"
    assert attrcheck.without_fitted_underscores(unknown, {"torch"}) == unknown
    no_plain = "import optuna\nstudy = optuna.create_study()\nstudy.best_colour_\n"
    assert attrcheck.without_fitted_underscores(no_plain, {"optuna"}) == no_plain
