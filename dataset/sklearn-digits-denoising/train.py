"""Denoise handwritten digits with kernel PCA and compare with linear PCA.

After the scikit-learn example "Image denoising using kernel PCA", using the bundled
8x8 digits instead of USPS so nothing is downloaded.
"""
import json
from pathlib import Path

import numpy as np
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


def main() -> None:
    n_components = 32
    gamma = 0.05
    alpha = 0.01

    X_train, X_test, X_train_noisy, X_test_noisy = load_noisy_digits(NOISE_STD, SEED)
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
