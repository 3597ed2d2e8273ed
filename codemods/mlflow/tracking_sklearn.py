"""tracking.mlflow for scikit-learn: autolog inside an explicit run around the training."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import ParentNodeProvider, QualifiedNameProvider

from .. import ActionCodemod, Decline, Example
from .._shared import assigned_names, method_calls, parameters, region_of, uses_library, wrap_in_with

FIT_METHODS = ("fit", "partial_fit", "fit_transform", "fit_predict")

# sklearn.metrics functions that return one float (unless asked per class/output, see below)
SCALAR_METRICS = frozenset(
    f"sklearn.metrics.{name}"
    for name in (
        "accuracy_score balanced_accuracy_score f1_score precision_score recall_score r2_score "
        "mean_squared_error root_mean_squared_error mean_absolute_error median_absolute_error "
        "mean_absolute_percentage_error explained_variance_score max_error roc_auc_score log_loss "
        "matthews_corrcoef cohen_kappa_score jaccard_score hamming_loss zero_one_loss "
        "average_precision_score brier_score_loss d2_absolute_error_score"
    ).split()
)
# keyword arguments that make those functions return an array unless given as a string
_PER_ITEM_KEYWORDS = ("average", "multioutput")


class _LogScalarMetrics(cst.CSTTransformer):
    """After ``name = <scalar metric>(...)`` or ``name = estimator.score(...)``, log ``name``."""

    def __init__(self, codemod: ActionCodemod) -> None:
        super().__init__()
        self.codemod = codemod

    def _is_scalar_metric(self, value: cst.BaseExpression) -> bool:
        if not isinstance(value, cst.Call):
            return False
        if m.matches(value.func, m.Attribute(attr=m.Name("score"))):
            return True
        names = {q.name for q in self.codemod.get_metadata(QualifiedNameProvider, value.func, set())}
        if not names & SCALAR_METRICS:
            return False
        return not any(
            arg.keyword and arg.keyword.value in _PER_ITEM_KEYWORDS and not isinstance(arg.value, cst.SimpleString)
            for arg in value.args
        )

    def leave_SimpleStatementLine(self, original_node, updated_node):
        if len(original_node.body) != 1 or not isinstance(original_node.body[0], cst.Assign):
            return updated_node
        assign = original_node.body[0]
        if len(assign.targets) != 1 or not isinstance(assign.targets[0].target, cst.Name):
            return updated_node
        if not self._is_scalar_metric(assign.value):
            return updated_node
        name = assign.targets[0].target.value
        return cst.FlattenSentinel([updated_node, cst.parse_statement(f'mlflow.log_metric("{name}", {name})')])


class SklearnMlflowTracking(ActionCodemod):
    """Wrap the code from the first estimator fit to the end of its scope in an MLflow run.

    ``mlflow.sklearn.autolog()`` logs each estimator's parameters, training metrics and the
    metrics the script computes with ``sklearn.metrics``; the script's argparse namespace, which
    autolog cannot see, is logged explicitly as params.
    """

    ACTION = "tracking.mlflow"
    FRAMEWORKS = ("sklearn",)
    DESCRIPTION = "Add MLflow experiment tracking to a scikit-learn script"
    METADATA_DEPENDENCIES = (ParentNodeProvider, QualifiedNameProvider)

    EXAMPLES = [
        Example(
            before='''\
import numpy as np
from sklearn.metrics import r2_score
from sklearn.tree import DecisionTreeRegressor

X = np.sort(5 * np.random.rand(80, 1), axis=0)
y = np.sin(X).ravel()

# fit the model
regr = DecisionTreeRegressor(max_depth=2)
regr.fit(X, y)
r2 = r2_score(y, regr.predict(X))
print("r2:", r2)
''',
            after='''\
import numpy as np
from sklearn.metrics import r2_score
from sklearn.tree import DecisionTreeRegressor
import mlflow

X = np.sort(5 * np.random.rand(80, 1), axis=0)
y = np.sin(X).ravel()

# fit the model
regr = DecisionTreeRegressor(max_depth=2)
mlflow.sklearn.autolog()
with mlflow.start_run():
    regr.fit(X, y)
    r2 = r2_score(y, regr.predict(X))
    mlflow.log_metric("r2", r2)
    print("r2:", r2)
''',
        ),
        Example(
            before='''\
import argparse

from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, default=1.0)
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    clf = LogisticRegression(C=args.C, max_iter=200)
    clf.fit(X, y)
    return clf.score(X, y)


if __name__ == "__main__":
    print(main())
''',
            after='''\
import argparse

from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
import mlflow


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, default=1.0)
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    clf = LogisticRegression(C=args.C, max_iter=200)
    mlflow.sklearn.autolog()
    with mlflow.start_run():
        mlflow.log_params(vars(args))
        clf.fit(X, y)
        return clf.score(X, y)


if __name__ == "__main__":
    print(main())
''',
        ),
        Example(
            before='''\
from sklearn.svm import SVC
from sklearn.datasets import load_iris

if __name__ == "__main__":
    X, y = load_iris(return_X_y=True)
    for C in (0.1, 1.0):
        model = SVC(C=C).fit(X, y)
        print(C, model.score(X, y))
''',
            after='''\
from sklearn.svm import SVC
from sklearn.datasets import load_iris
import mlflow

if __name__ == "__main__":
    X, y = load_iris(return_X_y=True)
    mlflow.sklearn.autolog()
    with mlflow.start_run():
        for C in (0.1, 1.0):
            model = SVC(C=C).fit(X, y)
            print(C, model.score(X, y))
''',
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import mlflow
from sklearn.linear_model import Ridge

mlflow.sklearn.autolog()
Ridge().fit([[0.0], [1.0]], [0.0, 1.0])
''',
            reason="already uses MLflow",
        ),
        Decline(
            source='''\
from sklearn.preprocessing import StandardScaler

print(StandardScaler)
''',
            reason="no estimator .fit",
        ),
        Decline(
            source='''\
from sklearn.linear_model import Ridge

def train(X, y): return Ridge().fit(X, y)
''',
            reason="one-line function body",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        if uses_library(self, tree, "mlflow"):
            raise SkipFile("the script already uses MLflow")
        fits = method_calls(tree, FIT_METHODS)
        if not fits:
            raise SkipFile("no estimator .fit(...) call found")
        region = region_of(self, fits[0])
        first = []
        args = self._argparse_namespace(tree, region)
        if args:
            first.append(f"mlflow.log_params(vars({args}))")
        AddImportsVisitor.add_needed_import(self.context, "mlflow")
        return wrap_in_with(
            tree,
            region,
            before=["mlflow.sklearn.autolog()"],
            with_item="mlflow.start_run()",
            first=first,
            tail_transformer=_LogScalarMetrics(self),
        )

    def _argparse_namespace(self, tree: cst.Module, region) -> str | None:
        """The name holding ``parser.parse_args()``, if it is bound where the run starts."""
        is_parse_args = lambda value: m.matches(value, m.Call(func=m.Attribute(attr=m.Name("parse_args"))))
        before = list(region.owner.body)[: region.index]
        bound = assigned_names(before, is_parse_args)
        if region.function is not None:
            everywhere = set(assigned_names([tree], is_parse_args))
            bound += sorted(everywhere & parameters(region.function))
        return bound[0] if bound else None
