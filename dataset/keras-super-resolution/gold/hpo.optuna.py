"""Sub-pixel convolution super-resolution (ESPCN-style) with Keras 3 on the torch backend.

High-resolution images are synthetic smooth patterns (sums of random sinusoids); the network learns to
upscale their 2x-downsampled versions. The pixel shuffle is built from Reshape and Permute layers.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import json

import keras
import numpy as np
import optuna
from keras import layers


class SuperResolutionTrainer:
    def __init__(self, upscale_factor=2, hr_size=32, num_train=600, num_val=100, filters=32,
                 learning_rate=1e-3, batch_size=16, epochs=2, seed=123):
        self.upscale_factor = upscale_factor
        self.hr_size = hr_size
        self.lr_size = hr_size // upscale_factor
        self.num_train = num_train
        self.num_val = num_val
        self.filters = filters
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.model = None
        self.history = None

    def make_high_res(self, count):
        """Smooth grey-scale images in [0, 1]: a few random 2-D sinusoids added together."""
        coords = np.linspace(0.0, 1.0, self.hr_size, dtype="float32")
        yy, xx = np.meshgrid(coords, coords, indexing="ij")
        images = np.zeros((count, self.hr_size, self.hr_size), dtype="float32")
        for index in range(count):
            for _ in range(3):
                fx, fy = self.rng.uniform(1.0, 6.0, size=2)
                phase = self.rng.uniform(0.0, 2 * np.pi)
                images[index] += np.sin(2 * np.pi * (fx * xx + fy * yy) + phase)
        images = (images - images.min(axis=(1, 2), keepdims=True)) / np.ptp(images, axis=(1, 2), keepdims=True)
        return images[..., None]

    def downsample(self, images):
        factor = self.upscale_factor
        count = images.shape[0]
        blocks = images.reshape(count, self.lr_size, factor, self.lr_size, factor, 1)
        return blocks.mean(axis=(2, 4))

    def make_datasets(self):
        high_train = self.make_high_res(self.num_train)
        high_val = self.make_high_res(self.num_val)
        return (self.downsample(high_train), high_train), (self.downsample(high_val), high_val)

    def build_model(self):
        factor = self.upscale_factor
        inputs = keras.Input(shape=(self.lr_size, self.lr_size, 1))
        x = layers.Conv2D(self.filters, 5, padding="same", activation="relu")(inputs)
        x = layers.Conv2D(self.filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(self.filters // 2, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(factor * factor, 3, padding="same")(x)
        # Pixel shuffle: (h, w, r*r) -> (h, w, r, r) -> (h, r, w, r) -> (h*r, w*r, 1).
        x = layers.Reshape((self.lr_size, self.lr_size, factor, factor))(x)
        x = layers.Permute((1, 3, 2, 4))(x)
        outputs = layers.Reshape((self.hr_size, self.hr_size, 1))(x)
        model = keras.Model(inputs, outputs, name="espcn")
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=self.learning_rate), loss="mse")
        return model

    @staticmethod
    def psnr(prediction, target):
        mse = float(np.mean((np.clip(prediction, 0.0, 1.0) - target) ** 2))
        return 10.0 * np.log10(1.0 / mse)

    def fit(self):
        keras.utils.set_random_seed(self.seed)
        (low_train, high_train), (low_val, high_val) = self.make_datasets()
        self.model = self.build_model()
        self.history = self.model.fit(
            low_train,
            high_train,
            validation_data=(low_val, high_val),
            batch_size=self.batch_size,
            epochs=self.epochs,
            verbose=2,
        )
        prediction = self.model.predict(low_val, verbose=0)
        bicubic_like = np.repeat(np.repeat(low_val, self.upscale_factor, axis=1), self.upscale_factor, axis=2)
        return {
            "val_psnr": self.psnr(prediction, high_val),
            "nearest_psnr": self.psnr(bicubic_like, high_val),
            "samples": prediction[:4],
        }

    def save(self, results):
        self.model.save("espcn.keras")
        np.save("upscaled_samples.npy", results["samples"])
        with open("sr_metrics.json", "w") as handle:
            json.dump({"val_psnr": results["val_psnr"], "nearest_psnr": results["nearest_psnr"],
                       "loss": self.history.history["loss"]}, handle, indent=2)


def objective(trial):
    trainer = SuperResolutionTrainer(
        filters=trial.suggest_categorical("filters", [16, 32, 64]),
        learning_rate=trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
        batch_size=trial.suggest_categorical("batch_size", [8, 16, 32]),
    )
    return trainer.fit()["val_psnr"]


if __name__ == "__main__":
    study = optuna.create_study(direction="maximize")
    study.optimize(objective, n_trials=3)
    print(f"best params: {study.best_params}")

    # Final training with the best hyperparameters produces the original outputs.
    trainer = SuperResolutionTrainer(**study.best_params)
    results = trainer.fit()
    trainer.save(results)
    print(f"nearest-neighbour PSNR: {results['nearest_psnr']:.2f} dB")
    print(f"final validation PSNR: {results['val_psnr']:.2f} dB")
