"""Gaussian-process regression of a noisy 1-D signal with a few candidate kernels.

The kernel whose optimised hyperparameters give the highest log-marginal likelihood on the
training data is kept; its predictions and uncertainty on a grid are saved.
"""
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import RBF, ConstantKernel, Matern, RationalQuadratic, WhiteKernel
from sklearn.metrics import mean_squared_error


@dataclass
class GPConfig:
    n_samples: int = 80
    noise_std: float = 0.3
    length_scale: float = 1.0
    noise_level: float = 0.1
    n_restarts_optimizer: int = 1
    seed: int = 0
    output_dir: str = "gp_output"


def make_signal(n_samples: int, noise_std: float, rng: np.random.RandomState):
    """A damped periodic signal with heteroscedastic-looking noise on [0, 10]."""
    X = np.sort(rng.uniform(0, 10, size=(n_samples, 1)), axis=0)
    clean = np.sin(2 * X).ravel() * np.exp(-0.1 * X.ravel()) + 0.1 * X.ravel()
    y = clean + rng.normal(scale=noise_std, size=n_samples)
    return X, y


class GaussianProcessExperiment:
    def __init__(self, config: GPConfig):
        self.config = config
        self.rng = np.random.RandomState(config.seed)
        X, y = make_signal(config.n_samples, config.noise_std, self.rng)
        test_mask = self.rng.rand(len(X)) < 0.25
        self.X_train, self.y_train = X[~test_mask], y[~test_mask]
        self.X_test, self.y_test = X[test_mask], y[test_mask]

    def candidate_kernels(self) -> dict:
        c = self.config
        noise = WhiteKernel(noise_level=c.noise_level, noise_level_bounds=(1e-3, 1e1))
        return {
            "rbf": ConstantKernel(1.0) * RBF(length_scale=c.length_scale) + noise,
            "matern": ConstantKernel(1.0) * Matern(length_scale=c.length_scale, nu=1.5) + noise,
            "rational_quadratic": ConstantKernel(1.0) * RationalQuadratic(length_scale=c.length_scale, alpha=1.0)
            + noise,
        }

    def fit(self, kernel) -> GaussianProcessRegressor:
        gp = GaussianProcessRegressor(
            kernel=kernel,
            normalize_y=True,
            n_restarts_optimizer=self.config.n_restarts_optimizer,
            random_state=self.config.seed,
        )
        return gp.fit(self.X_train, self.y_train)

    def test_rmse(self, gp: GaussianProcessRegressor) -> float:
        return float(np.sqrt(mean_squared_error(self.y_test, gp.predict(self.X_test))))

    def run(self) -> tuple[str, GaussianProcessRegressor, dict]:
        results = {}
        models = {}
        for name, kernel in self.candidate_kernels().items():
            gp = self.fit(kernel)
            models[name] = gp
            results[name] = {
                "log_marginal_likelihood": float(gp.log_marginal_likelihood_value_),
                "test_rmse": self.test_rmse(gp),
                "kernel": str(gp.kernel_),
            }
            print(f"{name:18s} lml={results[name]['log_marginal_likelihood']:8.3f} "
                  f"test rmse={results[name]['test_rmse']:.4f}  {gp.kernel_}")
        best = max(results, key=lambda k: results[k]["log_marginal_likelihood"])
        return best, models[best], results

    def save(self, best: str, gp: GaussianProcessRegressor, results: dict) -> None:
        out = Path(self.config.output_dir)
        out.mkdir(parents=True, exist_ok=True)
        grid = np.linspace(0, 10, 200).reshape(-1, 1)
        mean, std = gp.predict(grid, return_std=True)
        np.save(out / "predictions.npy", np.stack([grid.ravel(), mean, std]))
        (out / "metrics.json").write_text(json.dumps({"config": asdict(self.config), "best": best,
                                                     "results": results}, indent=2))


if __name__ == "__main__":
    config = GPConfig()
    experiment = GaussianProcessExperiment(config)
    best_name, best_gp, all_results = experiment.run()
    experiment.save(best_name, best_gp, all_results)
    print(f"final test rmse ({best_name} kernel): {all_results[best_name]['test_rmse']:.4f}")
