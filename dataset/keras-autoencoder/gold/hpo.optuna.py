"""Dense autoencoder (Keras 3 functional API, torch backend) for anomaly scoring on synthetic signals.

Normal samples are smooth sine waves with random frequency and phase; anomalies add a sharp spike.
The autoencoder is trained on normal windows only, and the reconstruction error separates the two.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import argparse
import json

import keras
import numpy as np
import optuna
from keras import layers

WINDOW = 64


def make_signals(count, anomaly_rate, rng):
    """Windows of shape (count, WINDOW) in roughly [-1, 1] and a 0/1 anomaly label per window."""
    t = np.linspace(0.0, 1.0, WINDOW)
    freq = rng.uniform(1.0, 4.0, size=(count, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(count, 1))
    signals = np.sin(2 * np.pi * freq * t + phase) + 0.05 * rng.normal(size=(count, WINDOW))
    labels = (rng.random(count) < anomaly_rate).astype("int64")
    for index in np.flatnonzero(labels):
        start = rng.integers(0, WINDOW - 4)
        signals[index, start:start + 4] += rng.choice([-2.0, 2.0])
    return signals.astype("float32"), labels


def build_autoencoder(latent_dim, hidden_units, learning_rate):
    inputs = keras.Input(shape=(WINDOW,), name="signal")
    x = layers.Dense(hidden_units, activation="relu")(inputs)
    latent = layers.Dense(latent_dim, activation="relu", name="latent")(x)
    x = layers.Dense(hidden_units, activation="relu")(latent)
    outputs = layers.Dense(WINDOW, name="reconstruction")(x)
    model = keras.Model(inputs, outputs, name="signal_autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    return model


def reconstruction_errors(model, signals):
    reconstructed = model.predict(signals, batch_size=256, verbose=0)
    return np.mean((reconstructed - signals) ** 2, axis=1)


def detection_accuracy(errors, labels, threshold):
    return float(np.mean((errors > threshold).astype("int64") == labels))


def parse_args():
    parser = argparse.ArgumentParser(description="Keras autoencoder anomaly detection")
    parser.add_argument("--latent-dim", type=int, default=8)
    parser.add_argument("--hidden-units", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--out", default="autoencoder_out")
    return parser.parse_args()


def main():
    args = parse_args()
    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    train_signals, _ = make_signals(2000, 0.0, rng)
    test_signals, test_labels = make_signals(500, 0.1, rng)


    def fit(latent_dim, hidden_units, learning_rate, epochs=args.epochs, verbose=2):
        keras.utils.set_random_seed(args.seed)
        model = build_autoencoder(latent_dim, hidden_units, learning_rate)
        history = model.fit(
            train_signals,
            train_signals,
            batch_size=args.batch_size,
            epochs=epochs,
            validation_split=0.1,
            verbose=verbose,
        )
        return model, history

    def objective(trial):
        # Tuned on the reconstruction loss of the held-out normal windows; the labelled test set is not used.
        _, trial_history = fit(
            latent_dim=trial.suggest_categorical("latent_dim", [4, 8, 16]),
            hidden_units=trial.suggest_categorical("hidden_units", [16, 32, 64]),
            learning_rate=trial.suggest_float("learning_rate", 5e-4, 5e-3, log=True),
            epochs=min(args.epochs, 2),  # short trials keep the search affordable; the final fit is full length
            verbose=0,
        )
        return trial_history.history["val_loss"][-1]

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=args.seed))
    study.optimize(objective, n_trials=3)
    print("best params:", study.best_params)
    model, history = fit(**study.best_params)

    # Threshold: a high percentile of the errors on (normal) training windows.
    threshold = float(np.percentile(reconstruction_errors(model, train_signals), 99))
    test_errors = reconstruction_errors(model, test_signals)
    accuracy = detection_accuracy(test_errors, test_labels, threshold)

    os.makedirs(args.out, exist_ok=True)
    model.save(os.path.join(args.out, "autoencoder.keras"))
    np.save(os.path.join(args.out, "test_errors.npy"), test_errors)
    with open(os.path.join(args.out, "summary.json"), "w") as handle:
        json.dump({"threshold": threshold, "detection_accuracy": accuracy,
                   "val_loss": [float(v) for v in history.history["val_loss"]]}, handle, indent=2)
    print(f"final detection accuracy: {accuracy:.4f}")


if __name__ == "__main__":
    main()
