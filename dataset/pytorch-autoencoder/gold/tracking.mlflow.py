"""Convolutional autoencoder on synthetic 16x16 shape images, with a small class-based trainer.

Every image holds one random filled rectangle or disc (random position, size and brightness) on a
noisy background; the autoencoder compresses it to a small latent vector and reconstructs it.
Configuration lives in a dataclass; every field can be overridden from the command line.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


@dataclass
class TrainConfig:
    image_size: int = 16
    n_train: int = 512
    n_val: int = 128
    latent_dim: int = 16
    base_channels: int = 8
    lr: float = 2e-3
    weight_decay: float = 1e-5
    batch_size: int = 64
    epochs: int = 4
    noise_std: float = 0.05
    seed: int = 5
    output_dir: str = "ae_outputs"


def config_from_cli() -> TrainConfig:
    """Expose every dataclass field as --field-name with the field's type and default."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for field in dataclasses.fields(TrainConfig):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default)
    return TrainConfig(**vars(parser.parse_args()))


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_shapes(count: int, size: int, noise_std: float, generator: torch.Generator) -> torch.Tensor:
    """Images in [0, 1] with one rectangle or disc each, shape (count, 1, size, size)."""
    rows = torch.arange(size).float().view(1, size, 1)
    cols = torch.arange(size).float().view(1, 1, size)
    centres = torch.rand(count, 2, generator=generator) * (size - 6) + 3
    centre_r, centre_c = centres[:, 0].view(-1, 1, 1), centres[:, 1].view(-1, 1, 1)
    radius = (torch.rand(count, generator=generator) * 3 + 2).view(-1, 1, 1)
    brightness = (torch.rand(count, generator=generator) * 0.5 + 0.5).view(-1, 1, 1)
    is_disc = (torch.rand(count, generator=generator) < 0.5).view(-1, 1, 1)
    disc = ((rows - centre_r) ** 2 + (cols - centre_c) ** 2) <= radius ** 2
    rectangle = ((rows - centre_r).abs() <= radius) & ((cols - centre_c).abs() <= radius * 0.7)
    images = (torch.where(is_disc, disc, rectangle).float() * brightness).unsqueeze(1)
    images = images + noise_std * torch.randn(images.shape, generator=generator)
    return images.clamp(0.0, 1.0)


class ConvAutoencoder(nn.Module):
    def __init__(self, image_size: int, base_channels: int, latent_dim: int) -> None:
        super().__init__()
        reduced = image_size // 4
        channels = base_channels * 2
        self.encoder = nn.Sequential(
            nn.Conv2d(1, base_channels, kernel_size=3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(base_channels, channels, kernel_size=3, stride=2, padding=1),
            nn.ReLU(),
            nn.Flatten(),
            nn.Linear(channels * reduced * reduced, latent_dim),
        )
        self.decoder = nn.Sequential(
            nn.Linear(latent_dim, channels * reduced * reduced),
            nn.ReLU(),
            nn.Unflatten(1, (channels, reduced, reduced)),
            nn.ConvTranspose2d(channels, base_channels, kernel_size=4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(base_channels, 1, kernel_size=4, stride=2, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images))


class AutoencoderTrainer:
    """Owns the model, optimiser and data loaders; `fit` runs the epochs and keeps a history."""

    def __init__(self, config: TrainConfig, model: nn.Module, train_loader: DataLoader, val_loader: DataLoader) -> None:
        self.config = config
        self.model = model
        self.train_loader = train_loader
        self.val_loader = val_loader
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.history: list[dict[str, float]] = []

    def train_epoch(self) -> float:
        self.model.train()
        total, count = 0.0, 0
        for (images,) in self.train_loader:
            self.optimizer.zero_grad()
            loss = F.mse_loss(self.model(images), images)
            loss.backward()
            self.optimizer.step()
            total += loss.item() * images.size(0)
            count += images.size(0)
        return total / count

    @torch.no_grad()
    def evaluate(self) -> float:
        self.model.eval()
        total, count = 0.0, 0
        for (images,) in self.val_loader:
            total += F.mse_loss(self.model(images), images, reduction="sum").item() / images[0].numel()
            count += images.size(0)
        return total / count

    def fit(self) -> list[dict[str, float]]:
        for epoch in range(1, self.config.epochs + 1):
            started = time.perf_counter()
            train_loss = self.train_epoch()
            val_loss = self.evaluate()
            self.history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
            mlflow.log_metrics({"train_loss": train_loss, "val_loss": val_loss}, step=epoch)
            print(f"epoch {epoch}/{self.config.epochs}: train mse {train_loss:.5f}, val mse {val_loss:.5f} "
                  f"({time.perf_counter() - started:.1f}s)")
        return self.history

    @torch.no_grad()
    def reconstruct(self, count: int = 8) -> np.ndarray:
        self.model.eval()
        images = next(iter(self.val_loader))[0][:count]
        return torch.cat([images, self.model(images)], dim=0).numpy()

    def save(self, output_dir: Path) -> None:
        output_dir.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), output_dir / "autoencoder.pt")
        np.save(output_dir / "reconstructions.npy", self.reconstruct())
        with open(output_dir / "history.json", "w") as handle:
            json.dump({"config": dataclasses.asdict(self.config), "history": self.history}, handle, indent=2)


def build_loaders(config: TrainConfig) -> tuple[DataLoader, DataLoader]:
    generator = torch.Generator().manual_seed(config.seed)
    train_images = make_shapes(config.n_train, config.image_size, config.noise_std, generator)
    val_images = make_shapes(config.n_val, config.image_size, config.noise_std, generator)
    train_loader = DataLoader(TensorDataset(train_images), batch_size=config.batch_size, shuffle=True)
    val_loader = DataLoader(TensorDataset(val_images), batch_size=config.batch_size)
    return train_loader, val_loader


def main() -> None:
    config = config_from_cli()
    set_seed(config.seed)
    train_loader, val_loader = build_loaders(config)
    model = ConvAutoencoder(config.image_size, config.base_channels, config.latent_dim)
    trainer = AutoencoderTrainer(config, model, train_loader, val_loader)
    with mlflow.start_run():
        mlflow.log_params(dataclasses.asdict(config))
        history = trainer.fit()
        trainer.save(Path(config.output_dir))
        mlflow.log_artifact(str(Path(config.output_dir) / "history.json"))
    print(f"final val reconstruction mse: {history[-1]['val_loss']:.5f}")


if __name__ == "__main__":
    main()
