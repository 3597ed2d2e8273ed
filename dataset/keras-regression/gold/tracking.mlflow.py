"""Keras 3 Sequential regression (torch backend) on a synthetic house-price-like table."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json

import keras
import mlflow
import mlflow.keras
import numpy as np
from keras import layers

keras.utils.set_random_seed(3)
rng = np.random.default_rng(3)

# Six numeric features; the price is a non-linear mix of them plus noise.
features = rng.normal(size=(1500, 6)).astype("float32")
price = (2.0 * features[:, 0] + np.tanh(features[:, 1] * features[:, 2]) - 0.5 * features[:, 3] ** 2
         + 0.1 * rng.normal(size=1500)).astype("float32")
x_train, y_train = features[:1200], price[:1200]
x_test, y_test = features[1200:], price[1200:]

units = 32
learning_rate = 3e-3
batch_size = 64
epochs = 4

model = keras.Sequential([
    keras.Input(shape=(6,)),
    layers.Dense(units, activation="relu"),
    layers.Dense(units, activation="relu"),
    layers.Dense(1),
])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse", metrics=["mae"])
# Autolog records fit() parameters and per-epoch metrics; the tracking URI comes from MLFLOW_TRACKING_URI.
mlflow.keras.autolog(log_models=False)
with mlflow.start_run():
    mlflow.log_params({"units": units, "learning_rate": learning_rate})
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.2, verbose=2)
    test_mse, test_mae = model.evaluate(x_test, y_test, verbose=0)
    mlflow.log_metrics({"test_mse": test_mse, "test_mae": test_mae})
model.save("regressor.keras")
with open("history.json", "w") as handle:
    json.dump({name: [float(v) for v in values] for name, values in history.history.items()}, handle)
print(f"final test mae: {test_mae:.4f}")
