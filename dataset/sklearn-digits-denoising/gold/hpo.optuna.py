"""Denoise handwritten digits with kernel PCA and compare with linear PCA.

After the scikit-learn example "Image denoising using kernel PCA", using the bundled
8x8 digits instead of USPS so nothing is downloaded.
"""
import json
from pathlib import Path

import numpy as np
import optuna
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA, KernelPCA
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

SEED = 0
NOISE_STD = 0.25


def load_noisy_digits(noise_std: float, seed: int):
    """Scaled digits split in train/test, with a Gaussian-noise copy of each split."""
    X, _ = load_digits(return_X_y=True)
    X = MinMaxScaler().fit_transform(X)
    X_train, X_test = train_test_split(X, test_size=300, train_size=1000, random_state=seed)
    rng = np.random.RandomState(seed)
    X_train_noisy = X_train + rng.normal(scale=noise_std, size=X_train.shape)
    X_test_noisy = X_test + rng.normal(scale=noise_std, size=X_test.shape)
    return X_train, X_test, X_train_noisy, X_test_noisy


def fit_linear_pca(X_noisy: np.ndarray, n_components: int) -> PCA:
    return PCA(n_components=n_components, random_state=SEED).fit(X_noisy)


def fit_kernel_pca(X_noisy: np.ndarray, n_components: int, gamma: float, alpha: float) -> KernelPCA:
    # fit_inverse_transform learns the pre-image map used to go back to pixel space.
    kernel_pca = KernelPCA(
        n_components=n_components,
        kernel="rbf",
        gamma=gamma,
        fit_inverse_transform=True,
        alpha=alpha,
        random_state=SEED,
    )
    return kernel_pca.fit(X_noisy)


def reconstruct(model, X_noisy: np.ndarray) -> np.ndarray:
    return model.inverse_transform(model.transform(X_noisy))


def reconstruction_mse(X_clean: np.ndarray, X_reconstructed: np.ndarray) -> float:
    return float(np.mean((X_clean - X_reconstructed) ** 2))


def save_results(out_dir: Path, denoised: np.ndarray, metrics: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / "denoised_test.npy", denoised)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))


def tune_kernel_pca(X_train: np.ndarray, X_train_noisy: np.ndarray, n_trials: int = 3) -> dict:
    """Search the kernel PCA settings on a validation part of the training split (the test split stays unseen)."""
    X_fit_noisy, X_val_noisy, _, X_val = train_test_split(X_train_noisy, X_train, test_size=0.25, random_state=SEED)

    def objective(trial: optuna.Trial) -> float:
        n_components = trial.suggest_int("n_components", 8, 64)
        gamma = trial.suggest_float("gamma", 1e-3, 1.0, log=True)
        alpha = trial.suggest_float("alpha", 1e-4, 1.0, log=True)
        kernel_pca = fit_kernel_pca(X_fit_noisy, n_components, gamma, alpha)
        return reconstruction_mse(X_val, reconstruct(kernel_pca, X_val_noisy))

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=SEED))
    study.optimize(objective, n_trials=n_trials)
    print(f"best params: {study.best_params} (validation mse {study.best_value:.4f})")
    return study.best_params


def main() -> None:
    X_train, X_test, X_train_noisy, X_test_noisy = load_noisy_digits(NOISE_STD, SEED)
    best_params = tune_kernel_pca(X_train, X_train_noisy, n_trials=4)
    n_components = best_params["n_components"]
    gamma = best_params["gamma"]
    alpha = best_params["alpha"]

    noisy_mse = reconstruction_mse(X_test, X_test_noisy)
    print(f"noisy test images mse: {noisy_mse:.4f}")

    pca = fit_linear_pca(X_train_noisy, n_components)
    pca_mse = reconstruction_mse(X_test, reconstruct(pca, X_test_noisy))
    print(f"linear PCA reconstruction mse: {pca_mse:.4f}")

    kernel_pca = fit_kernel_pca(X_train_noisy, n_components, gamma, alpha)
    denoised = reconstruct(kernel_pca, X_test_noisy)
    kernel_pca_mse = reconstruction_mse(X_test, denoised)

    metrics = {
        "noise_std": NOISE_STD,
        "noisy_mse": noisy_mse,
        "pca_mse": pca_mse,
        "kernel_pca_mse": kernel_pca_mse,
    }
    save_results(Path("outputs"), denoised, metrics)
    print(f"final kernel PCA reconstruction mse: {kernel_pca_mse:.4f}")


if __name__ == "__main__":
    main()
