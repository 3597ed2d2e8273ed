"""hpo.optuna for scikit-learn scripts: an Optuna study over the hyperparameters the script fixes."""

from __future__ import annotations

import libcst as cst

from .. import ActionCodemod, Decline, Example
from ._engine import adapt
from ._examples import objective_and_study


class SklearnOptunaHpo(ActionCodemod):
    """Lift the script's hyperparameters into ``objective(trial)``, run a short study on the metric it
    prints last, then run the training once more with ``study.best_params`` (see ``_engine``)."""

    ACTION = "hpo.optuna"
    FRAMEWORKS = ("sklearn",)
    DESCRIPTION = "Add Optuna hyperparameter optimisation to a scikit-learn script"

    EXAMPLES = [
        Example(
            before='''\
import numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)

clf = RandomForestClassifier(n_estimators=50, max_depth=4, random_state=0)
clf.fit(X_train, y_train)
np.save("predictions.npy", clf.predict(X_test))
print(f"test accuracy: {clf.score(X_test, y_test):.3f}")
''',
            after='''\
import numpy as np
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
import optuna
import os

TUNED_PARAMS: dict = {}  # hyperparameters of the Optuna trial being run

X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)


def train_and_evaluate():
    """The script's run with the hyperparameters in TUNED_PARAMS; returns its test accuracy."""
    global clf
    clf = RandomForestClassifier(n_estimators=TUNED_PARAMS.get("n_estimators", 50), max_depth=TUNED_PARAMS.get("max_depth", 4), random_state=0)
    clf.fit(X_train, y_train)
    np.save("predictions.npy", clf.predict(X_test))
    print(f"test accuracy: {clf.score(X_test, y_test):.3f}")
    return clf.score(X_test, y_test)


''' + objective_and_study(
                {
                    "n_estimators": 'trial.suggest_int("n_estimators", 25, 75)',
                    "max_depth": 'trial.suggest_int("max_depth", 2, 6)',
                },
                "maximize",
                main_guard=False,
            ),
        ),
        Example(
            before='''\
import argparse

from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def main():
    args = parse_args()
    X, y = load_diabetes(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=args.seed)
    model = Ridge(alpha=args.alpha).fit(X_train, y_train)
    mse = mean_squared_error(y_val, model.predict(X_val))
    print(f"validation mse: {mse:.2f}")


if __name__ == "__main__":
    main()
''',
            after='''\
import argparse

from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split
import optuna
import os

TUNED_PARAMS: dict = {}  # hyperparameters of the Optuna trial being run


def apply_tuned_params(settings):
    """``settings`` with the tuned hyperparameters it holds set from TUNED_PARAMS."""
    for name, value in TUNED_PARAMS.items():
        if hasattr(settings, name):
            setattr(settings, name, value)
    return settings


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    return apply_tuned_params(parser.parse_args())


def main():
    args = parse_args()
    X, y = load_diabetes(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split(X, y, random_state=args.seed)
    model = Ridge(alpha=args.alpha).fit(X_train, y_train)
    mse = mean_squared_error(y_val, model.predict(X_val))
    print(f"validation mse: {mse:.2f}")
    return mse


def train_and_evaluate():
    """The script's run with the hyperparameters in TUNED_PARAMS; returns its validation mse."""
    return main()


''' + objective_and_study(
                {"alpha": 'trial.suggest_float("alpha", 0.1, 10.0, log=True)'},
                "minimize",
                main_guard=True,
            ),
        ),
        Example(
            before='''\
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA


def main() -> None:
    n_components = 16
    X, _ = load_digits(return_X_y=True)
    pca = PCA(n_components=n_components).fit(X)
    error = ((X - pca.inverse_transform(pca.transform(X))) ** 2).mean()
    print("reconstruction error:", error)


if __name__ == "__main__":
    main()
''',
            after='''\
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
import optuna
import os

TUNED_PARAMS: dict = {}  # hyperparameters of the Optuna trial being run


def main() -> None:
    n_components = TUNED_PARAMS.get("n_components", 16)
    X, _ = load_digits(return_X_y=True)
    pca = PCA(n_components=n_components).fit(X)
    error = ((X - pca.inverse_transform(pca.transform(X))) ** 2).mean()
    print("reconstruction error:", error)
    return error


def train_and_evaluate():
    """The script's run with the hyperparameters in TUNED_PARAMS; returns its reconstruction error."""
    return main()


''' + objective_and_study(
                {"n_components": 'trial.suggest_int("n_components", 8, 24, step=8)'},
                "minimize",
                main_guard=True,
            ),
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LinearRegression

X, y = load_diabetes(return_X_y=True)
model = LinearRegression().fit(X, y)
print(f"r2: {model.score(X, y):.3f}")
''',
            reason="no tunable hyperparameter",
        ),
        Decline(
            source='''\
import optuna
from sklearn.svm import SVC

model = SVC(C=1.0)
print(f"accuracy: {0.5:.3f}")
''',
            reason="already uses Optuna",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        return adapt(tree, self.context, ('sklearn',), "scikit-learn")
