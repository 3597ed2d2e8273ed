"""Decision tree regression on a noisy sine curve (short)."""
import json

import mlflow
import numpy as np
from sklearn.metrics import mean_squared_error
from sklearn.tree import DecisionTreeRegressor


def train(X, y, max_depth):
    return DecisionTreeRegressor(max_depth=max_depth, random_state=0).fit(X, y)


rng = np.random.RandomState(1)
X = np.sort(5 * rng.rand(200, 1), axis=0)
y = np.sin(X).ravel()
mlflow.set_experiment("short-tree")
max_depth = 4
model = train(X, y, max_depth)
mse = mean_squared_error(y, model.predict(X))
with open("metrics.json", "w") as f:
    json.dump({"mse": mse}, f)
print(f"final mse: {mse:.4f}")
