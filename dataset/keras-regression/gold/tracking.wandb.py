"""Keras 3 Sequential regression (torch backend) on a synthetic house-price-like table."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json

import keras
import numpy as np
import wandb
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


class WandbMetricsLogger(keras.callbacks.Callback):
    """Send the epoch metrics Keras computes to W&B (wandb.integration.keras needs TensorFlow)."""

    def on_epoch_end(self, epoch, logs=None):
        wandb.log({name: float(value) for name, value in (logs or {}).items()}, step=epoch)


wandb.init(
    project="keras-regression",
    config={"units": units, "learning_rate": learning_rate, "batch_size": batch_size, "epochs": epochs},
)
history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.2, verbose=2,
                    callbacks=[WandbMetricsLogger()])

test_mse, test_mae = model.evaluate(x_test, y_test, verbose=0)
model.save("regressor.keras")
with open("history.json", "w") as handle:
    json.dump({name: [float(v) for v in values] for name, values in history.history.items()}, handle)
wandb.log({"test_mse": float(test_mse), "test_mae": float(test_mae)}, step=epochs)
wandb.finish()
print(f"final test mae: {test_mae:.4f}")
