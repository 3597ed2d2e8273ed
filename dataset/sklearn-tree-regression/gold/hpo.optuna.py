"""Decision tree regression on a noisy sine curve (after the scikit-learn example)."""
import json

import numpy as np
import optuna
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeRegressor

rng = np.random.RandomState(1)

# Noisy sine: every fifth target gets a large perturbation, as in the classic example.
X = np.sort(5 * rng.rand(400, 1), axis=0)
y = np.sin(X).ravel()
y[::5] += 3 * (0.5 - rng.rand(80))

X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)

# The test split stays untouched during the search: trials are scored on a validation split of the training data.
X_fit, X_val, y_fit, y_val = train_test_split(X_train, y_train, test_size=0.25, random_state=0)


def objective(trial: optuna.Trial) -> float:
    max_depth = trial.suggest_int("max_depth", 2, 10)
    min_samples_leaf = trial.suggest_int("min_samples_leaf", 1, 20)
    candidate = DecisionTreeRegressor(max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=0)
    candidate.fit(X_fit, y_fit)
    return mean_squared_error(y_val, candidate.predict(X_val))


study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=0))
study.optimize(objective, n_trials=10)
print(f"best params: {study.best_params} (validation mse {study.best_value:.4f})")

max_depth = study.best_params["max_depth"]
min_samples_leaf = study.best_params["min_samples_leaf"]

regressor = DecisionTreeRegressor(max_depth=max_depth, min_samples_leaf=min_samples_leaf, random_state=0)
regressor.fit(X_train, y_train)

train_mse = mean_squared_error(y_train, regressor.predict(X_train))
test_mse = mean_squared_error(y_test, regressor.predict(X_test))

X_grid = np.arange(0.0, 5.0, 0.01)[:, np.newaxis]
np.save("predictions.npy", regressor.predict(X_grid))
with open("metrics.json", "w") as f:
    json.dump({"train_mse": train_mse, "test_mse": test_mse, "n_leaves": int(regressor.get_n_leaves())}, f, indent=2)

print(f"tree depth: {regressor.get_depth()}, leaves: {regressor.get_n_leaves()}")
print(f"final test mse: {test_mse:.4f}")
