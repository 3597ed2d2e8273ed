"""tracking.mlflow for scikit-learn: autolog inside an explicit run around the training (or, where the
first fit only preprocesses data, a run around the training and scoring with explicit params and metrics)."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports, Region, Site, fast_visit, find_calls, method_call, parameters, region_of, wrap_in_with
from .._tracking import ModuleIndex, apply_edits, last_import, plan_estimator_tracking
from .tracking_torch import mlflow_metric_call

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

    When that first fit is a preprocessing step in a helper whose scope computes no metric
    (``load_data`` scaling the features), the run is put where the script trains and scores its
    estimators instead (through ``main()`` and helpers): the script's hyperparameters as params
    and each scalar metric logged where it is computed, with a step per row inside loops.
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
        Example(
            before='''\
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

C = 0.5


def load_data():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, random_state=0)


def main():
    X_train, X_test, y_train, y_test = load_data()
    clf = LogisticRegression(C=C, max_iter=500).fit(X_train, y_train)
    accuracy = accuracy_score(y_test, clf.predict(X_test))
    print(f"test accuracy: {accuracy:.3f}")


if __name__ == "__main__":
    main()
''',
            after='''\
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
import mlflow

C = 0.5


def load_data():
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    return train_test_split(X, y, random_state=0)


def main():
    with mlflow.start_run():
        mlflow.log_params({"c": C})
        X_train, X_test, y_train, y_test = load_data()
        clf = LogisticRegression(C=C, max_iter=500).fit(X_train, y_train)
        accuracy = accuracy_score(y_test, clf.predict(X_test))
        mlflow.log_metric("accuracy", accuracy)
        print(f"test accuracy: {accuracy:.3f}")


if __name__ == "__main__":
    main()
''',
        ),
        Example(
            before='''\
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def load_data():
    X, y = load_digits(return_X_y=True)
    return train_test_split(StandardScaler().fit_transform(X), y, random_state=0)


def compare(X_train, X_test, y_train, y_test):
    results = []
    for max_iter in (5, 20):
        clf = SGDClassifier(max_iter=max_iter, random_state=0).fit(X_train, y_train)
        accuracy = clf.score(X_test, y_test)
        results.append(accuracy)
    return results


def main():
    results = compare(*load_data())
    print(f"best accuracy: {max(results):.3f}")


if __name__ == "__main__":
    main()
''',
            after='''\
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
import itertools
import mlflow

MLFLOW_STEP = itertools.count()  # MLflow step of the metrics logged in loops


def load_data():
    X, y = load_digits(return_X_y=True)
    return train_test_split(StandardScaler().fit_transform(X), y, random_state=0)


def compare(X_train, X_test, y_train, y_test):
    results = []
    mlflow.sklearn.autolog(log_models=False)  # the estimators' params
    with mlflow.start_run():
        for max_iter in (5, 20):
            clf = SGDClassifier(max_iter=max_iter, random_state=0).fit(X_train, y_train)
            accuracy = clf.score(X_test, y_test)
            mlflow.log_metric("accuracy", accuracy, step=next(MLFLOW_STEP))
            results.append(accuracy)
        return results


def main():
    results = compare(*load_data())
    print(f"best accuracy: {max(results):.3f}")


if __name__ == "__main__":
    main()
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
        if not _computes_a_metric(region, imports):
            # the first fit may be a preprocessing step in a helper (``load_data`` scaling its
            # features): the run belongs where the script trains and scores its estimator, if
            # that is found; else the run around the first fit, where autolog logs the training
            # metrics, stays the plan
            try:
                return self._run_around_training(tree, imports)
            except SkipFile as reason:
                self.warn(f"run kept around the first fit: {reason}")
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

    def _run_around_training(self, tree: cst.Module, imports: Imports) -> cst.Module:
        """The run from the first statement reaching a fit in the entry scope (through ``main()``
        and helpers) to the end of that scope; the script's hyperparameters as params (else the
        estimators', by autolog), and each scalar metric it computes after the fit logged where
        it is computed."""
        plan = plan_estimator_tracking(tree, ModuleIndex.of(tree, imports), method_call(*FIT_METHODS))
        if not plan.final_logs:
            raise SkipFile("no metric computed after the fit (no sklearn.metrics score, .score(...) or best_score_)")
        after: dict[int, list[str]] = {}
        in_loops = _statements_in_loops(tree)
        for log in plan.final_logs:
            call = mlflow_metric_call(log)
            if id(log.anchor) in in_loops:
                # metrics computed in a loop (one model per setting): one step per logged row,
                # as wandb.log counts them, so that the rows do not overwrite each other
                call = f"{call[:-1]}, step=next({_STEP_COUNTER}))"
            after.setdefault(id(log.anchor), []).append(call)
        header = last_import(tree)
        if any(id(log.anchor) in in_loops for log in plan.final_logs):
            if header is None:
                raise SkipFile("metrics are logged in a loop but the module has no import to put a step counter after")
            AddImportsVisitor.add_needed_import(self.context, "itertools")
            counter = cst.parse_statement(f"{_STEP_COUNTER} = itertools.count()  # MLflow step of the metrics logged in loops")
            after.setdefault(id(header), []).append(counter.with_changes(leading_lines=[cst.EmptyLine()]))
        before, first = [], []
        if plan.hyperparameters:
            # explicit params: autolog would log every fitted estimator's params into this one run
            # (conflicting values across fits) and a model artifact per fit (slow)
            first.append(f"mlflow.log_params({plan.hyperparameters.dict_expression()})")
            if plan.hyperparameters.needs_dataclasses:
                AddImportsVisitor.add_needed_import(self.context, "dataclasses")
        else:
            before.append("mlflow.sklearn.autolog(log_models=False)  # the estimators' params")
        AddImportsVisitor.add_needed_import(self.context, "mlflow")
        return apply_edits(
            tree, after=after, region=plan.region, before=before, with_item="mlflow.start_run()", first=first
        )


_STEP_COUNTER = "MLFLOW_STEP"


def _statements_in_loops(tree: cst.Module) -> set[int]:
    """Ids of the statements inside a ``for``/``while`` body (in any function)."""
    found: set[int] = set()

    class Loops(cst.CSTVisitor):
        def __init__(self) -> None:
            self.depths = [0]  # loop depth, per function being visited

        def visit_For(self, node: cst.For) -> None:
            self.depths[-1] += 1

        def leave_For(self, original_node: cst.For) -> None:
            self.depths[-1] -= 1

        def visit_While(self, node: cst.While) -> None:
            self.depths[-1] += 1

        def leave_While(self, original_node: cst.While) -> None:
            self.depths[-1] -= 1

        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            self.depths.append(0)

        def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
            self.depths.pop()

        def on_visit(self, node: cst.CSTNode) -> bool:
            if self.depths[-1] and isinstance(node, cst.BaseStatement):
                found.add(id(node))
            return super().on_visit(node)

    fast_visit(tree, Loops())
    return found


def _computes_a_metric(region: Region, imports: Imports) -> bool:
    """Whether the statements the run would wrap assign a scalar metric (what gets logged)."""
    logger = _LogScalarMetrics(imports)
    found = []

    class Assignments(cst.CSTVisitor):
        def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
            small = node.body[0] if len(node.body) == 1 else None
            if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
                if logger._is_scalar_metric(small.value):
                    found.append(small)

    fast_visit(cst.Module(body=list(region.owner.body)[region.index :]), Assignments())
    return bool(found)


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
