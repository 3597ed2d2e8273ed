"""tracking.wandb for scikit-learn: a W&B run around the training with the script's
hyperparameters (and the estimator's literal settings) as config, and ``wandb.log`` of the
scalar metrics the script computes (``sklearn.metrics`` scores, ``.score(...)``, ``best_score_``,
numbers its own functions return)."""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports, fast_visit, find_calls
from .._tracking import Hyperparameters, ModuleIndex, _is_literal, apply_edits, code_of, plan_estimator_tracking, project_name
from .tracking_torch import wandb_log_call

FIT_METHODS = ("fit", "partial_fit", "fit_transform", "fit_predict")


def _is_fit(call: cst.Call) -> bool:
    return m.matches(call.func, m.Attribute(attr=m.OneOf(*(m.Name(n) for n in FIT_METHODS)))) and bool(call.args)


def _estimator_settings(tree: cst.Module, imports: Imports, found: Hyperparameters) -> None:
    """The class and literal keyword settings of the first scikit-learn estimator fitted."""
    constructors: dict[str, cst.Call] = {}

    class _Assignments(cst.CSTVisitor):
        def visit_Assign(self, node: cst.Assign) -> None:
            if isinstance(node.value, cst.Call) and (imports.qualified(node.value.func) or "").startswith("sklearn."):
                for target in node.targets:
                    if isinstance(target.target, cst.Name):
                        constructors.setdefault(target.target.value, node.value)

    fast_visit(tree, _Assignments())
    for site in find_calls(tree, _is_fit):
        receiver = site.call.func.value
        constructor = receiver if isinstance(receiver, cst.Call) else constructors.get(getattr(receiver, "value", ""))
        if constructor is None or not (imports.qualified(constructor.func) or "").startswith("sklearn."):
            continue
        found.add_item("estimator", f'"{code_of(constructor.func).split(".")[-1]}"')
        for arg in constructor.args:
            if arg.keyword and _is_literal(arg.value):
                found.add_item(arg.keyword.value, code_of(arg.value))
        return


class SklearnWandbTracking(ActionCodemod):
    """Wrap the code from the first statement that fits (following ``main()``) to the end of its
    scope in ``with wandb.init(project=..., config=...):`` and log each scalar metric right after
    the statement that computes it."""

    ACTION = "tracking.wandb"
    FRAMEWORKS = ("sklearn",)
    DESCRIPTION = "Add Weights & Biases tracking to a scikit-learn script"

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
import wandb

X = np.sort(5 * np.random.rand(80, 1), axis=0)
y = np.sin(X).ravel()

# fit the model
regr = DecisionTreeRegressor(max_depth=2)
with wandb.init(project="training", config={"estimator": "DecisionTreeRegressor", "max_depth": 2}):
    regr.fit(X, y)
    r2 = r2_score(y, regr.predict(X))
    wandb.log({"r2": r2})
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
    accuracy = clf.score(X, y)
    print(f"accuracy: {accuracy:.3f}")


if __name__ == "__main__":
    main()
''',
            after='''\
import argparse

from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
import wandb


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--C", type=float, default=1.0)
    args = parser.parse_args()
    X, y = load_digits(return_X_y=True)
    clf = LogisticRegression(C=args.C, max_iter=200)
    with wandb.init(project="training", config={**vars(args), "estimator": "LogisticRegression", "max_iter": 200}):
        clf.fit(X, y)
        accuracy = clf.score(X, y)
        wandb.log({"accuracy": accuracy})
        print(f"accuracy: {accuracy:.3f}")


if __name__ == "__main__":
    main()
''',
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import wandb
from sklearn.linear_model import Ridge

wandb.init(project="p")
Ridge().fit([[0.0], [1.0]], [0.0, 1.0])
''',
            reason="already uses W&B",
        ),
        Decline(
            source='''\
from sklearn.linear_model import Ridge

model = Ridge().fit([[0.0], [1.0]], [0.0, 1.0])
print(model.coef_)
''',
            reason="no metric",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        imports = Imports.of(tree)
        if imports.uses("wandb"):
            raise SkipFile("the script already uses W&B (wandb)")
        plan = plan_estimator_tracking(tree, ModuleIndex.of(tree, imports), _is_fit)
        if not plan.final_logs:
            raise SkipFile("no metric computed after the fit (no sklearn.metrics score, .score(...) or best_score_)")
        hyperparameters = plan.hyperparameters
        _estimator_settings(tree, imports, hyperparameters)
        if not hyperparameters:
            raise SkipFile("no hyperparameters found for the W&B config")
        after: dict[int, list[str]] = {}
        for log in plan.final_logs:
            after.setdefault(id(log.anchor), []).append(wandb_log_call(log))
        AddImportsVisitor.add_needed_import(self.context, "wandb")
        if hyperparameters.needs_dataclasses:
            AddImportsVisitor.add_needed_import(self.context, "dataclasses")
        project = project_name(tree, self.context.filename)
        config = hyperparameters.dict_expression()
        return apply_edits(tree, after=after, region=plan.region, with_item=f'wandb.init(project="{project}", config={config})')
