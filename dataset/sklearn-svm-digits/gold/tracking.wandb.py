"""Support vector classifier on the scikit-learn digits (8x8 images), with feature scaling.

Writes the test metrics, the confusion matrix and the per-class report to a results JSON.
"""
import json
import sys

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
import wandb

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


def main():
    X_train, X_test, y_train, y_test = load_data()
    run = wandb.init(
        project="sklearn-svm-digits",
        config={"C": C, "gamma": GAMMA, "kernel": KERNEL, "test_size": TEST_SIZE, "random_state": RANDOM_STATE},
    )
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
    wandb.log({"test_accuracy": accuracy, "n_support_vectors": results["n_support_vectors"],
               **{f"f1_class_{label}": f1 for label, f1 in results["per_class_f1"].items()}})
    run.summary["test_accuracy"] = accuracy
    wandb.finish()
    with open(RESULTS_PATH, "w") as handle:
        json.dump(results, handle, indent=2)
    print(f"support vectors: {results['n_support_vectors']}", file=sys.stderr)
    print(f"final test accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
