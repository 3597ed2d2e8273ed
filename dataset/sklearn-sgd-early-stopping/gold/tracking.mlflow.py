"""Early stopping of stochastic gradient descent, compared across iteration budgets.

After the scikit-learn example "Early stopping of Stochastic Gradient Descent": for several
max_iter values, train an SGDClassifier with and without early stopping on the bundled
digits data and compare accuracy, number of epochs actually run, and fit time.
"""
import argparse
import json
import time
import warnings
from pathlib import Path

import mlflow
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-iters", type=int, nargs="+", default=[1, 2, 5, 10, 20, 50],
                        help="iteration budgets to compare")
    parser.add_argument("--alpha", type=float, default=1e-4, help="L2 regularisation strength")
    parser.add_argument("--n-iter-no-change", type=int, default=3,
                        help="epochs without improvement before early stopping")
    parser.add_argument("--validation-fraction", type=float, default=0.2,
                        help="share of the training data held out for early stopping")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=Path("results"))
    return parser.parse_args()


def load_data(seed: int):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, stratify=y, random_state=seed)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test), y_train, y_test


def make_classifier(args: argparse.Namespace, max_iter: int, early_stopping: bool) -> SGDClassifier:
    return SGDClassifier(
        loss="hinge",
        alpha=args.alpha,
        max_iter=max_iter,
        tol=1e-3,
        early_stopping=early_stopping,
        n_iter_no_change=args.n_iter_no_change,
        validation_fraction=args.validation_fraction,
        random_state=args.seed,
    )


def fit_and_score(classifier: SGDClassifier, X_train, y_train, X_test, y_test) -> dict:
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Small budgets do not converge on purpose: that is what the comparison is about.
        warnings.simplefilter("ignore", ConvergenceWarning)
        classifier.fit(X_train, y_train)
    fit_time = time.perf_counter() - start
    return {
        "train_accuracy": classifier.score(X_train, y_train),
        "test_accuracy": classifier.score(X_test, y_test),
        "n_iter": int(classifier.n_iter_),
        "fit_time": fit_time,
    }


def run_comparison(args: argparse.Namespace, data) -> tuple[list[dict], SGDClassifier]:
    X_train, X_test, y_train, y_test = data
    results = []
    best_model = None
    for max_iter in args.max_iters:
        for early_stopping in (False, True):
            classifier = make_classifier(args, max_iter, early_stopping)
            scores = fit_and_score(classifier, X_train, y_train, X_test, y_test)
            scores.update({"max_iter": max_iter, "early_stopping": early_stopping})
            results.append(scores)
            label = "early stopping" if early_stopping else "no stopping   "
            print(f"max_iter={max_iter:3d} {label}: test acc {scores['test_accuracy']:.4f}, "
                  f"epochs {scores['n_iter']:3d}, fit {scores['fit_time'] * 1000:.1f} ms")
            suffix = "early_stopping" if early_stopping else "no_stopping"
            # One metric series per variant, indexed by the iteration budget.
            mlflow.log_metrics(
                {f"test_accuracy_{suffix}": scores["test_accuracy"],
                 f"train_accuracy_{suffix}": scores["train_accuracy"],
                 f"n_iter_{suffix}": scores["n_iter"],
                 f"fit_time_{suffix}": scores["fit_time"]},
                step=max_iter,
            )
            if early_stopping:
                best_model = classifier
    return results, best_model


def save_results(output_dir: Path, results: list[dict], model: SGDClassifier) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "comparison.json").write_text(json.dumps(results, indent=2))
    np.save(output_dir / "early_stopping_coef.npy", model.coef_)


def main() -> None:
    args = parse_args()
    np.random.seed(args.seed)
    data = load_data(args.seed)
    with mlflow.start_run():
        mlflow.log_params({
            "max_iters": ",".join(map(str, args.max_iters)),
            "alpha": args.alpha,
            "n_iter_no_change": args.n_iter_no_change,
            "validation_fraction": args.validation_fraction,
            "seed": args.seed,
        })
        results, final_model = run_comparison(args, data)
        save_results(args.output_dir, results, final_model)
        mlflow.log_artifact(str(args.output_dir / "comparison.json"))

    final = [r for r in results if r["early_stopping"]][-1]
    print(f"final test accuracy (early stopping, max_iter={final['max_iter']}): {final['test_accuracy']:.4f}")


if __name__ == "__main__":
    main()
