"""tracking.mlflow for scikit-learn: autolog inside an explicit run around the training."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports, Region, Site, find_calls, method_call, parameters, region_of, wrap_in_with

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

    def __init__(self, imports: Imports) -> None:
        super().__init__()
        self.imports = imports

    def _is_scalar_metric(self, value: cst.BaseExpression) -> bool:
        if not isinstance(value, cst.Call):
            return False
        if m.matches(value.func, m.Attribute(attr=m.Name("score"))):
            return True
        if self.imports.qualified(value.func) not in SCALAR_METRICS:
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
        imports = Imports.of(tree)
        if imports.uses("mlflow"):
            raise SkipFile("the script already uses MLflow")
        is_fit, is_parse_args = method_call(*FIT_METHODS), method_call("parse_args")
        calls = find_calls(tree, lambda call: is_fit(call) or is_parse_args(call))
        fits = [site for site in calls if is_fit(site.call)]
        if not fits:
            raise SkipFile("no estimator .fit(...) call found")
        region = region_of(fits[0])
        first = []
        args = _argparse_namespace(region, [site for site in calls if is_parse_args(site.call)])
        if args:
            first.append(f"mlflow.log_params(vars({args}))")
        AddImportsVisitor.add_needed_import(self.context, "mlflow")
        return wrap_in_with(
            tree,
            region,
            before=["mlflow.sklearn.autolog()"],
            with_item="mlflow.start_run()",
            first=first,
            tail_transformer=_LogScalarMetrics(imports),
        )


def _argparse_namespace(region: Region, parse_args_sites: list[Site]) -> str | None:
    """The name holding ``parser.parse_args()``, if it is bound where the run starts: assigned
    earlier in the same body, or a parameter of the function the run is in."""
    before = {id(statement) for statement in list(region.owner.body)[: region.index]}
    bound_here, bound_anywhere = [], set()
    for site in parse_args_sites:
        assign = site.path[-2] if len(site.path) > 1 else None
        if not isinstance(assign, cst.Assign) or len(assign.targets) != 1:
            continue
        target = assign.targets[0].target
        if not isinstance(target, cst.Name):
            continue
        bound_anywhere.add(target.value)
        if any(id(node) in before for node in site.path):
            bound_here.append(target.value)
    if region.function is not None:
        bound_here += sorted(bound_anywhere & parameters(region.function))
    return bound_here[0] if bound_here else None
