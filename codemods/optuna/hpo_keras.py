"""hpo.optuna for Keras 3 scripts: an Optuna study over the hyperparameters the script fixes."""

from __future__ import annotations

import libcst as cst

from .. import ActionCodemod, Decline, Example
from ._engine import adapt
from ._examples import objective_and_study


class KerasOptunaHpo(ActionCodemod):
    """Lift the script's hyperparameters into ``objective(trial)``, run a short study on the metric it
    prints last, then run the training once more with ``study.best_params`` (see ``_engine``)."""

    ACTION = "hpo.optuna"
    FRAMEWORKS = ("keras",)
    DESCRIPTION = "Add Optuna hyperparameter optimisation to a Keras 3 script"

    EXAMPLES = [
        Example(
            before='''\
import os

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np

learning_rate = 1e-3
x = np.random.rand(256, 8)
y = (x.sum(axis=1) > 4).astype("float32")

model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
history = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0)
model.save("model.keras")
print(f"final val loss: {history.history['val_loss'][-1]:.4f}")
''',
            after='''\
import os
import optuna

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np

TUNED_PARAMS: dict = {}  # hyperparameters of the Optuna trial being run

learning_rate = 1e-3
x = np.random.rand(256, 8)
y = (x.sum(axis=1) > 4).astype("float32")


def train_and_evaluate():
    """The script's run with the hyperparameters in TUNED_PARAMS; returns its final val loss."""
    global learning_rate, model, history
    learning_rate = TUNED_PARAMS.get("learning_rate", learning_rate)
    model = keras.Sequential([keras.Input(shape=(8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    history = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0)
    model.save("model.keras")
    print(f"final val loss: {history.history['val_loss'][-1]:.4f}")
    return history.history['val_loss'][-1]


''' + objective_and_study(
                {"learning_rate": 'trial.suggest_float("learning_rate", 0.0001, 0.002, log=True)'},
                "minimize",
                main_guard=False,
            ),
        ),
        Example(
            before='''\
import os

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np


def train(config):
    x = np.random.rand(256, 8)
    y = (x.sum(axis=1) > 4).astype("int32")
    model = keras.Sequential([
        keras.Input(shape=(8,)),
        keras.layers.Dense(config["units"], activation="relu"),
        keras.layers.Dropout(config["dropout"]),
        keras.layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=config["epochs"], validation_split=0.25, verbose=0)
    return history.history["val_accuracy"][-1]


if __name__ == "__main__":
    config = {"units": 32, "dropout": 0.2, "epochs": 2}
    val_accuracy = train(config)
    print(f"val accuracy: {val_accuracy:.3f}")
''',
            after='''\
import os
import optuna

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras
import numpy as np

TUNED_PARAMS: dict = {}  # hyperparameters of the Optuna trial being run


def apply_tuned_params(settings):
    """``settings`` with the tuned hyperparameters it holds set from TUNED_PARAMS."""
    if isinstance(settings, dict):
        return {**settings, **{k: v for k, v in TUNED_PARAMS.items() if k in settings}}
    return settings


def train(config):
    x = np.random.rand(256, 8)
    y = (x.sum(axis=1) > 4).astype("int32")
    model = keras.Sequential([
        keras.Input(shape=(8,)),
        keras.layers.Dense(config["units"], activation="relu"),
        keras.layers.Dropout(config["dropout"]),
        keras.layers.Dense(2, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=config["epochs"], validation_split=0.25, verbose=0)
    return history.history["val_accuracy"][-1]


def train_and_evaluate():
    """The script's run with the hyperparameters in TUNED_PARAMS; returns its val accuracy."""
    global config, val_accuracy
    config = apply_tuned_params({"units": 32, "dropout": 0.2, "epochs": 2})
    val_accuracy = train(config)
    print(f"val accuracy: {val_accuracy:.3f}")
    return val_accuracy


''' + objective_and_study(
                {
                    "units": 'trial.suggest_int("units", 16, 48, step=16)',
                    "dropout": 'trial.suggest_float("dropout", 0.1, 0.4)',
                },
                "maximize",
                main_guard=True,
            ),
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import os

os.environ.setdefault("KERAS_BACKEND", "torch")
import keras

model = keras.Sequential([keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01), loss="mse")
model.save("model.keras")
print("saved")
''',
            reason="no metric whose direction is known",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        return adapt(tree, self.context, ('keras',), "Keras 3")
