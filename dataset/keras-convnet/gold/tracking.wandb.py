"""MNIST-style convnet (Keras 3, torch backend) on synthetic 28x28 digit-like images."""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json

import keras
import numpy as np
import wandb
from keras import layers

keras.utils.set_random_seed(1)
num_classes = 10
input_shape = (28, 28, 1)
batch_size = 64
epochs = 2
learning_rate = 1e-3

# Synthetic "digits": each class is a fixed random stroke template, shifted and noised per sample.
rng = np.random.default_rng(1)
templates = (rng.random((num_classes, 28, 28)) > 0.8).astype("float32")


def make_images(count):
    labels = rng.integers(0, num_classes, size=count)
    shifts = rng.integers(-2, 3, size=(count, 2))
    images = np.stack([np.roll(templates[label], tuple(shift), axis=(0, 1)) for label, shift in zip(labels, shifts)])
    images = np.clip(images + 0.3 * rng.standard_normal(images.shape), 0.0, 1.0).astype("float32")
    return images[..., None], labels


x_train, y_train = make_images(1500)
x_test, y_test = make_images(300)
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)
print("x_train shape:", x_train.shape)

model = keras.Sequential(
    [
        keras.Input(shape=input_shape),
        layers.Conv2D(16, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ]
)
model.compile(
    loss="categorical_crossentropy",
    optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
    metrics=["accuracy"],
)


class WandbMetricsLogger(keras.callbacks.Callback):
    """Send the epoch metrics Keras computes to W&B (wandb.integration.keras needs TensorFlow)."""

    def on_epoch_end(self, epoch, logs=None):
        wandb.log({name: float(value) for name, value in (logs or {}).items()}, step=epoch)


wandb.init(
    project="keras-convnet",
    config={"batch_size": batch_size, "epochs": epochs, "learning_rate": learning_rate, "num_classes": num_classes},
)
history = model.fit(
    x_train,
    y_train,
    batch_size=batch_size,
    epochs=epochs,
    validation_split=0.1,
    verbose=2,
    callbacks=[WandbMetricsLogger()],
)

score = model.evaluate(x_test, y_test, verbose=0)
model.save("convnet.keras")
with open("history.json", "w") as handle:
    json.dump(history.history, handle)
wandb.log({"test_accuracy": float(score[1])}, step=epochs)
wandb.finish()
print(f"final test accuracy: {score[1]:.4f}")
