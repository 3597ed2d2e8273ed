from mlops_lsp.core import adapt
from mlops_lsp.edits import apply_edits
from mlops_lsp.options import Options

CODEMOD = Options(strategy="codemod")


def test_adapt_sklearn_script(sklearn_source):
    result = adapt(sklearn_source, "tracking.mlflow", CODEMOD)
    assert result.ok and result.engine == "codemod"
    assert apply_edits(sklearn_source, list(result.edits)) == result.source
    assert "mlflow.start_run()" in result.source


def test_unknown_action_is_an_error_not_an_exception(sklearn_source):
    result = adapt(sklearn_source, "tracking.nope", CODEMOD)
    assert result.status == "error" and "unknown action" in result.message


def test_syntax_error(sklearn_source):
    result = adapt(sklearn_source + "\ndef broken(:\n", "tracking.mlflow", CODEMOD)
    assert result.status == "error" and "syntax error" in result.message and result.source is None


def test_not_a_training_script():
    result = adapt("import os\nprint(os.getcwd())\n", "tracking.mlflow", CODEMOD)
    assert result.status == "declined" and "not one" in result.message


def test_huge_file_is_declined_without_parsing(sklearn_source):
    result = adapt(sklearn_source + "x = 1\n" * 100, "tracking.mlflow", Options(strategy="codemod", max_file_bytes=500))
    assert result.status == "declined" and "too large" in result.message


def test_already_adapted_script_is_unchanged_without_a_model(sklearn_source):
    # a second application is "unchanged", not a failure, when no model engine could still run
    tracked = "import mlflow\n" + sklearn_source.replace("model.fit(", "mlflow.autolog()\n    model.fit(")
    for strategy in ("auto", "codemod"):
        result = adapt(tracked, "tracking.mlflow", Options(strategy=strategy))
        assert result.status == "unchanged" and not result.edits, strategy
        assert result.message.endswith("nothing to change: the script already uses MLflow"), result.message


def test_auto_without_model_reports_both_engines():
    in_a_lambda = "from sklearn.linear_model import LogisticRegression\n\ntrain = lambda X, y: LogisticRegression().fit(X, y)\n"
    result = adapt(in_a_lambda, "tracking.mlflow", Options(strategy="auto"))
    assert result.status == "declined"
    assert "codemod: the training call is inside a lambda" in result.message and "no model configured" in result.message


def test_action_not_fitting_framework(sklearn_source):
    result = adapt(sklearn_source, "pruning.torch", CODEMOD)
    assert result.status == "declined" and "pytorch" in result.message


def test_messages_are_one_line(sklearn_source):
    for source in (sklearn_source, "x = (", "", "\x00"):
        for action in ("tracking.mlflow", "translate.gitpython-dvc"):
            assert "\n" not in adapt(source, action, CODEMOD).message
