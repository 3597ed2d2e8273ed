"""Variational autoencoder on synthetic 8x8 "sprites".

Each sprite is produced from a hidden 3-number recipe (horizontal position, vertical position,
thickness) by a fixed smooth renderer, so the data lies on a low-dimensional manifold that a
small VAE can learn. Training is organised around a Trainer class; the configuration is a
dataclass whose fields can be overridden from the command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import time
from dataclasses import dataclass

import nncf
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from nncf.torch.function_hook.pruning.magnitude.algo import get_pruned_modules
from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler
from torch.utils.data import DataLoader, TensorDataset, random_split

SIDE = 8


@dataclass
class Config:
    n_samples: int = 1600
    val_fraction: float = 0.2
    hidden_dim: int = 128
    latent_dim: int = 4
    lr: float = 2e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    epochs: int = 5
    beta: float = 1.0  # weight of the KL term (beta-VAE)
    seed: int = 0
    output_dir: str = "vae_out"
    n_generated: int = 16
    n_interpolation_steps: int = 8
    target_sparsity: float = 0.5  # NNCF magnitude-pruning ratio reached at the last epoch
    lr_patience: int = 2  # epochs without val improvement before the learning rate is halved


def parse_config() -> Config:
    """Expose every Config field as a --flag with the dataclass default."""
    parser = argparse.ArgumentParser(description="VAE on synthetic sprites")
    for field in dataclasses.fields(Config):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=type(field.default), default=field.default, dest=field.name)
    return Config(**vars(parser.parse_args()))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def render_sprites(n: int, generator: torch.Generator) -> torch.Tensor:
    """Render n soft crosses from random (x, y, thickness) recipes; pixels in [0, 1], flattened."""
    coords = torch.linspace(0.0, 1.0, SIDE)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    recipe = torch.rand(n, 3, generator=generator)
    cx = 0.2 + 0.6 * recipe[:, 0, None, None]
    cy = 0.2 + 0.6 * recipe[:, 1, None, None]
    width = 0.05 + 0.1 * recipe[:, 2, None, None]
    vertical = torch.exp(-((xx[None] - cx) ** 2) / (2 * width**2))
    horizontal = torch.exp(-((yy[None] - cy) ** 2) / (2 * width**2))
    image = torch.clamp(vertical + horizontal, 0.0, 1.0)
    return image.reshape(n, SIDE * SIDE)


class VAE(nn.Module):
    def __init__(self, input_dim: int, hidden_dim: int, latent_dim: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(input_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim), nn.ReLU(),
        )
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim), nn.ReLU(),
            nn.Linear(hidden_dim, input_dim),
        )

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.fc_mu(h), self.fc_logvar(h)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        std = torch.exp(0.5 * logvar)
        return mu + torch.randn_like(std) * std

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(z))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = self.reparameterize(mu, logvar) if self.training else mu
        return self.decode(z), mu, logvar


def vae_loss(recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Negative ELBO per sample: reconstruction BCE + beta * KL(q(z|x) || N(0, I))."""
    recon_loss = F.binary_cross_entropy(recon, x, reduction="sum") / x.size(0)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / x.size(0)
    return recon_loss + beta * kl, recon_loss, kl


class Trainer:
    def __init__(
        self,
        model: VAE,
        config: Config,
        train_loader: DataLoader,
        val_loader: DataLoader,
        pruning_scheduler: MultiStepMagnitudePruningScheduler | None = None,
    ) -> None:
        self.model = model
        self.pruning_scheduler = pruning_scheduler
        self.config = config
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="min", factor=0.5, patience=config.lr_patience
        )
        self.history: list[dict[str, float]] = []
        self.best_val_loss = float("inf")
        self.best_epoch = 0

    def train_epoch(self) -> float:
        self.model.train()
        total, count = 0.0, 0
        for (x,) in self.train_loader:
            self.optimizer.zero_grad()
            recon, mu, logvar = self.model(x)
            loss, _, _ = vae_loss(recon, x, mu, logvar, self.config.beta)
            loss.backward()
            self.optimizer.step()
            total += loss.item() * x.size(0)
            count += x.size(0)
        return total / count

    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        self.model.eval()
        sums = {"loss": 0.0, "recon": 0.0, "kl": 0.0}
        count = 0
        for (x,) in self.val_loader:
            recon, mu, logvar = self.model(x)
            loss, recon_loss, kl = vae_loss(recon, x, mu, logvar, self.config.beta)
            for key, value in zip(("loss", "recon", "kl"), (loss, recon_loss, kl)):
                sums[key] += value.item() * x.size(0)
            count += x.size(0)
        return {key: value / count for key, value in sums.items()}

    def fit(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        for epoch in range(1, self.config.epochs + 1):
            start = time.perf_counter()
            if self.pruning_scheduler is not None:
                self.pruning_scheduler.step(epoch - 1)  # NNCF counts epochs from 0
            train_loss = self.train_epoch()
            metrics = self.evaluate()
            self.scheduler.step(metrics["loss"])
            if metrics["loss"] < self.best_val_loss:
                self.best_val_loss, self.best_epoch = metrics["loss"], epoch
            elapsed = time.perf_counter() - start
            self.history.append({"epoch": epoch, "train_loss": train_loss, **{f"val_{k}": v for k, v in metrics.items()}})
            print(
                f"epoch {epoch:2d} | train loss {train_loss:8.3f} | val loss {metrics['loss']:8.3f} "
                f"(recon {metrics['recon']:7.3f}, kl {metrics['kl']:6.3f}) | "
                f"pruned {nncf.pruning_statistic(self.model).pruning_ratio:.2f} | {elapsed:.1f}s"
            )
        return metrics

    @torch.no_grad()
    def generate(self, n: int) -> np.ndarray:
        self.model.eval()
        z = torch.randn(n, self.config.latent_dim)
        return self.model.decode(z).reshape(n, SIDE, SIDE).numpy()

    @torch.no_grad()
    def interpolate(self, x_start: torch.Tensor, x_end: torch.Tensor, steps: int) -> np.ndarray:
        """Decode points on the straight line between the latent means of two sprites."""
        self.model.eval()
        mu_start, _ = self.model.encode(x_start[None])
        mu_end, _ = self.model.encode(x_end[None])
        weights = torch.linspace(0.0, 1.0, steps)[:, None]
        z = (1 - weights) * mu_start + weights * mu_end
        return self.model.decode(z).reshape(steps, SIDE, SIDE).numpy()

    def summary(self) -> dict[str, float]:
        return {
            "best_val_loss": self.best_val_loss,
            "best_epoch": self.best_epoch,
            "final_lr": self.optimizer.param_groups[0]["lr"],
        }

    def save(self, output_dir: str) -> None:
        os.makedirs(output_dir, exist_ok=True)
        torch.save(
            {"model_state": self.model.state_dict(), "config": dataclasses.asdict(self.config)},
            os.path.join(output_dir, "vae.pt"),
        )
        with open(os.path.join(output_dir, "history.json"), "w") as f:
            json.dump({"epochs": self.history, "summary": self.summary()}, f, indent=2)


def pruning_steps(epochs: int, target: float) -> dict[int, float]:
    """Epoch (0-based) -> pruning ratio: start at 10% and grow linearly to target at the last epoch."""
    if epochs < 2:
        return {0: target}
    return {epoch: 0.1 + (target - 0.1) * epoch / (epochs - 1) for epoch in range(epochs)}


@torch.no_grad()
def bake_pruning_masks(model: nn.Module) -> None:
    """Zero the masked weights in place too: generate()/interpolate() call decode()/encode() directly,
    which bypasses the NNCF hooks that apply the masks inside forward(). The masks stay on the model."""
    for weight_name, mask_module in get_pruned_modules(model).items():
        model.get_parameter(weight_name).mul_(mask_module.binary_mask)


def build_loaders(config: Config) -> tuple[DataLoader, DataLoader]:
    data_generator = torch.Generator().manual_seed(config.seed)
    sprites = render_sprites(config.n_samples, data_generator)
    n_val = int(len(sprites) * config.val_fraction)
    train_set, val_set = random_split(TensorDataset(sprites), [len(sprites) - n_val, n_val], generator=data_generator)
    train_loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True)
    val_loader = DataLoader(val_set, batch_size=256)
    return train_loader, val_loader


def main() -> None:
    config = parse_config()
    seed_everything(config.seed)
    train_loader, val_loader = build_loaders(config)
    model = VAE(SIDE * SIDE, config.hidden_dim, config.latent_dim)
    prune_mode = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL
    steps = pruning_steps(config.epochs, config.target_sparsity)
    example_batch = next(iter(train_loader))[0][:2]
    model = nncf.prune(model, mode=prune_mode, ratio=steps[0], examples_inputs=example_batch)
    pruning_scheduler = MultiStepMagnitudePruningScheduler(model, mode=prune_mode, steps=steps)
    trainer = Trainer(model, config, train_loader, val_loader, pruning_scheduler)
    final_metrics = trainer.fit()
    bake_pruning_masks(model)
    print(nncf.pruning_statistic(model))
    trainer.save(config.output_dir)
    np.save(os.path.join(config.output_dir, "generated.npy"), trainer.generate(config.n_generated))
    (x_start,), (x_end,) = val_loader.dataset[0], val_loader.dataset[1]
    interpolation = trainer.interpolate(x_start, x_end, config.n_interpolation_steps)
    np.save(os.path.join(config.output_dir, "interpolation.npy"), interpolation)
    print(f"best validation loss {trainer.best_val_loss:.4f} at epoch {trainer.best_epoch}")
    print(f"final validation loss: {final_metrics['loss']:.4f}")


if __name__ == "__main__":
    main()
