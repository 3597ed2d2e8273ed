"""Keras 3 Sequential regression (torch backend) on a synthetic house-price-like table."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json

import keras
import numpy as np
import optuna
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



def build_and_fit(units, learning_rate, batch_size, verbose=2):
    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input(shape=(6,)),
        layers.Dense(units, activation="relu"),
        layers.Dense(units, activation="relu"),
        layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse", metrics=["mae"])
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.2, verbose=verbose)
    return model, history


def objective(trial):
    # Trials are scored on the validation split carved out by fit(); the test set stays held out.
    _, trial_history = build_and_fit(
        units=trial.suggest_categorical("units", [16, 32, 64]),
        learning_rate=trial.suggest_float("learning_rate", 1e-3, 1e-2, log=True),
        batch_size=trial.suggest_categorical("batch_size", [32, 64, 128]),
        verbose=0,
    )
    return trial_history.history["val_mae"][-1]


study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=3))
study.optimize(objective, n_trials=3)
print("best params:", study.best_params)

model, history = build_and_fit(**study.best_params)

test_mse, test_mae = model.evaluate(x_test, y_test, verbose=0)
model.save("regressor.keras")
with open("history.json", "w") as handle:
    json.dump({name: [float(v) for v in values] for name, values in history.history.items()}, handle)
print(f"final test mae: {test_mae:.4f}")
