"""Grid search over a scaler + classifier pipeline on the breast-cancer data set."""
import argparse
import json
from pathlib import Path

import joblib
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, classification_report
from sklearn.model_selection import GridSearchCV, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--C", type=float, nargs="+", default=[0.01, 0.1, 1.0, 10.0], help="regularisation grid")
    parser.add_argument("--classifier", nargs="+", default=["logreg", "svc"], choices=["logreg", "svc"])
    parser.add_argument("--cv", type=int, default=5, help="cross-validation folds")
    parser.add_argument("--test-size", type=float, default=0.25)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=Path("artifacts"))
    return parser.parse_args()


def make_classifier(name: str, seed: int):
    if name == "logreg":
        return LogisticRegression(max_iter=2000, random_state=seed)
    return SVC(kernel="rbf", gamma="scale", random_state=seed)


def build_search(args: argparse.Namespace) -> GridSearchCV:
    pipeline = Pipeline([("scaler", StandardScaler()), ("classifier", make_classifier("logreg", args.seed))])
    param_grid = [
        {"classifier": [make_classifier(name, args.seed)], "classifier__C": args.C} for name in args.classifier
    ]
    folds = StratifiedKFold(n_splits=args.cv, shuffle=True, random_state=args.seed)
    return GridSearchCV(pipeline, param_grid, cv=folds, scoring="accuracy", n_jobs=1)


def main() -> None:
    args = parse_args()
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=args.test_size, stratify=y, random_state=args.seed
    )

    search = build_search(args)
    search.fit(X_train, y_train)
    best = search.best_estimator_
    best_name = type(best.named_steps["classifier"]).__name__
    best_C = search.best_params_["classifier__C"]
    print(f"best pipeline: {best_name}(C={best_C}) cv accuracy {search.best_score_:.4f}")

    y_pred = best.predict(X_test)
    test_accuracy = accuracy_score(y_test, y_pred)
    print(classification_report(y_test, y_pred, target_names=["malignant", "benign"]))

    args.out.mkdir(parents=True, exist_ok=True)
    joblib.dump(best, args.out / "best_pipeline.joblib")
    summary = {"classifier": best_name, "C": best_C, "cv_accuracy": search.best_score_, "test_accuracy": test_accuracy}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"final test accuracy: {test_accuracy:.4f}")


if __name__ == "__main__":
    main()
