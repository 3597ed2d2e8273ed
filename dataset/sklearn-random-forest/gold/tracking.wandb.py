"""Random forest classifier on the breast cancer data set, with k-fold cross-validation.

The model is cross-validated on the training split, refit on all of it and scored on a
held-out test split; the test metrics and the feature importances are written to disk.
"""
import argparse
import json

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
import wandb


def parse_args():
    parser = argparse.ArgumentParser(description="Random forest on breast cancer data")
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--max-depth", type=int, default=6)
    parser.add_argument("--min-samples-leaf", type=int, default=2)
    parser.add_argument("--max-features", default="sqrt")
    parser.add_argument("--cv-folds", type=int, default=5)
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--output", default="rf_results.json")
    return parser.parse_args()


args = parse_args()
data = load_breast_cancer()
X_train, X_test, y_train, y_test = train_test_split(
    data.data, data.target, test_size=args.test_size, stratify=data.target, random_state=args.seed
)

run = wandb.init(project="sklearn-random-forest", config=vars(args))
forest = RandomForestClassifier(
    n_estimators=args.n_estimators,
    max_depth=args.max_depth,
    min_samples_leaf=args.min_samples_leaf,
    max_features=args.max_features,
    random_state=args.seed,
    n_jobs=1,
)
folds = StratifiedKFold(n_splits=args.cv_folds, shuffle=True, random_state=args.seed)
cv_scores = cross_val_score(forest, X_train, y_train, cv=folds, scoring="accuracy")
for fold, score in enumerate(cv_scores):
    wandb.log({"cv_fold_accuracy": float(score)}, step=fold)
print(f"cv accuracy: {cv_scores.mean():.4f} +/- {cv_scores.std():.4f}")

forest.fit(X_train, y_train)
predictions = forest.predict(X_test)
test_accuracy = accuracy_score(y_test, predictions)
test_f1 = f1_score(y_test, predictions)
wandb.log({"cv_accuracy_mean": float(cv_scores.mean()), "test_accuracy": test_accuracy, "test_f1": test_f1},
          step=len(cv_scores))

order = np.argsort(forest.feature_importances_)[::-1][:5]
top_features = {data.feature_names[i]: float(forest.feature_importances_[i]) for i in order}
with open(args.output, "w") as handle:
    json.dump({"cv_accuracy": cv_scores.tolist(), "test_accuracy": test_accuracy, "test_f1": test_f1,
               "top_features": top_features}, handle, indent=2)
run.summary["test_accuracy"] = test_accuracy
wandb.finish()
print(f"final test accuracy: {test_accuracy:.4f}")
