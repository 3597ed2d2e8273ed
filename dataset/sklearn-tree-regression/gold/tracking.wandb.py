"""Decision tree regression on a noisy sine curve (after the scikit-learn example)."""
import json

import numpy as np
import wandb
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeRegressor

rng = np.random.RandomState(1)

# Noisy sine: every fifth target gets a large perturbation, as in the classic example.
X = np.sort(5 * rng.rand(400, 1), axis=0)
y = np.sin(X).ravel()
y[::5] += 3 * (0.5 - rng.rand(80))

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

max_depth = 5
min_samples_leaf = 4

run = wandb.init(
    project="sklearn-tree-regression",
    config={"max_depth": max_depth, "min_samples_leaf": min_samples_leaf, "random_state": 0},
)
regressor = DecisionTreeRegressor(max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=0)
regressor.fit(X_train, y_train)

train_mse = mean_squared_error(y_train, regressor.predict(X_train))
test_mse = mean_squared_error(y_test, regressor.predict(X_test))
wandb.log({"train_mse": train_mse, "test_mse": test_mse, "n_leaves": regressor.get_n_leaves()})

X_grid = np.arange(0.0, 5.0, 0.01)[:, np.newaxis]
np.save("predictions.npy", regressor.predict(X_grid))
with open("metrics.json", "w") as f:
    json.dump({"train_mse": train_mse, "test_mse": test_mse, "n_leaves": int(regressor.get_n_leaves())}, f, indent=2)

print(f"tree depth: {regressor.get_depth()}, leaves: {regressor.get_n_leaves()}")
run.summary["test_mse"] = test_mse
wandb.finish()
print(f"final test mse: {test_mse:.4f}")
