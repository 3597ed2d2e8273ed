"""Support vector classifier on the scikit-learn digits (8x8 images), with feature scaling.

Writes the test metrics, the confusion matrix and the per-class report to a results JSON.
"""
import json
import sys

import numpy as np
import optuna
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix
from sklearn.model_selection import cross_val_score, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

C = 5.0
GAMMA = 0.01
KERNEL = "rbf"
TEST_SIZE = 0.3
RANDOM_STATE = 0
RESULTS_PATH = "svm_results.json"


def load_data():
    digits = load_digits()
    return train_test_split(
        digits.data, digits.target, test_size=TEST_SIZE, stratify=digits.target, random_state=RANDOM_STATE
    )


def build_model(C, gamma, kernel):
    return make_pipeline(StandardScaler(), SVC(C=C, gamma=gamma, kernel=kernel))


def tune(X_train, y_train, n_trials=3):
    """Search C and gamma (log scale) on 3-fold cross-validated accuracy of the training split."""

    def objective(trial):
        candidate = build_model(
            C=trial.suggest_float("C", 0.1, 100.0, log=True),
            gamma=trial.suggest_float("gamma", 1e-4, 1e-1, log=True),
            kernel=KERNEL,
        )
        return cross_val_score(candidate, X_train, y_train, cv=3, scoring="accuracy").mean()

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=RANDOM_STATE))
    study.optimize(objective, n_trials=n_trials)
    print(f"best params: {study.best_params} (cv accuracy {study.best_value:.4f})")
    return study.best_params


def main():
    X_train, X_test, y_train, y_test = load_data()
    best = tune(X_train, y_train)
    C, GAMMA = best["C"], best["gamma"]
    model = build_model(C, GAMMA, KERNEL)
    model.fit(X_train, y_train)

    predictions = model.predict(X_test)
    accuracy = accuracy_score(y_test, predictions)
    report = classification_report(y_test, predictions, output_dict=True)
    svc = model[-1]
    results = {
        "params": {"C": C, "gamma": GAMMA, "kernel": KERNEL},
        "test_accuracy": accuracy,
        "n_support_vectors": int(np.sum(svc.n_support_)),
        "confusion_matrix": confusion_matrix(y_test, predictions).tolist(),
        "per_class_f1": {label: report[label]["f1-score"] for label in map(str, range(10))},
    }
    with open(RESULTS_PATH, "w") as handle:
        json.dump(results, handle, indent=2)
    print(f"support vectors: {results['n_support_vectors']}", file=sys.stderr)
    print(f"final test accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
