"""A small GAN on a 2-D ring of Gaussians, written as a PyTorch Lightning module with manual optimisation.

The generator maps noise to points in the plane; the discriminator tells real ring samples from
generated ones. Quality is measured as the mean distance of generated points to the nearest ring mode.
"""
import json
import math
import random
from dataclasses import asdict, dataclass

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import prune
from torch.utils.data import DataLoader, TensorDataset


@dataclass
class GanConfig:
    seed: int = 3
    num_modes: int = 8
    ring_radius: float = 2.0
    mode_std: float = 0.05
    num_samples: int = 2048
    latent_dim: int = 8
    hidden_dim: int = 64
    batch_size: int = 128
    max_epochs: int = 2
    generator_lr: float = 1e-3
    discriminator_lr: float = 1e-3
    beta1: float = 0.5
    num_eval_samples: int = 512
    # Pruning schedule: (fraction of training done, cumulative sparsity of every Linear weight).
    pruning_schedule: tuple = ((0.5, 0.3), (0.75, 0.5))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def ring_modes(config: GanConfig) -> torch.Tensor:
    angles = torch.arange(config.num_modes, dtype=torch.float32) * (2 * math.pi / config.num_modes)
    return config.ring_radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)


def make_ring_dataset(config: GanConfig) -> TensorDataset:
    """Points drawn from a mixture of Gaussians placed evenly on a circle."""
    generator = torch.Generator().manual_seed(config.seed)
    modes = ring_modes(config)
    which = torch.randint(0, config.num_modes, (config.num_samples,), generator=generator)
    noise = config.mode_std * torch.randn(config.num_samples, 2, generator=generator)
    return TensorDataset(modes[which] + noise)


class Generator(nn.Module):
    def __init__(self, latent_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, 2),
        )

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.net(noise)


class Discriminator(nn.Module):
    def __init__(self, hidden_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, 1),
        )

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.net(points)


class RingGAN(pl.LightningModule):
    def __init__(self, config: GanConfig) -> None:
        super().__init__()
        self.save_hyperparameters(asdict(config))
        self.config = config
        self.generator = Generator(config.latent_dim, config.hidden_dim)
        self.discriminator = Discriminator(config.hidden_dim)
        # Two optimizers stepped by hand in training_step.
        self.automatic_optimization = False

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.generator(noise)

    def sample_noise(self, count: int) -> torch.Tensor:
        return torch.randn(count, self.config.latent_dim, device=self.device)

    def training_step(self, batch, batch_idx):
        (real,) = batch
        generator_opt, discriminator_opt = self.optimizers()
        batch_size = real.shape[0]
        ones = torch.ones(batch_size, 1, device=self.device)
        zeros = torch.zeros(batch_size, 1, device=self.device)

        # Discriminator step: real points -> 1, generated points -> 0.
        fake = self.generator(self.sample_noise(batch_size)).detach()
        real_loss = F.binary_cross_entropy_with_logits(self.discriminator(real), ones)
        fake_loss = F.binary_cross_entropy_with_logits(self.discriminator(fake), zeros)
        discriminator_loss = 0.5 * (real_loss + fake_loss)
        discriminator_opt.zero_grad()
        self.manual_backward(discriminator_loss)
        discriminator_opt.step()

        # Generator step: make the discriminator call generated points real.
        fake = self.generator(self.sample_noise(batch_size))
        generator_loss = F.binary_cross_entropy_with_logits(self.discriminator(fake), ones)
        generator_opt.zero_grad()
        self.manual_backward(generator_loss)
        generator_opt.step()

        self.log("d_loss", discriminator_loss, on_step=False, on_epoch=True)
        self.log("g_loss", generator_loss, on_step=False, on_epoch=True)

    def linear_layers(self) -> list[nn.Linear]:
        return [module for module in self.modules() if isinstance(module, nn.Linear)]

    def on_train_batch_start(self, batch, batch_idx) -> None:
        # Magnitude pruning during training: raise the sparsity at fixed points of the run,
        # then keep training the remaining weights.
        total_steps = self.trainer.max_epochs * self.trainer.num_training_batches
        for fraction, target in self.config.pruning_schedule:
            if self.trainer.global_step == int(fraction * total_steps):
                self.apply_sparsity(target)

    def apply_sparsity(self, target: float) -> None:
        for layer in self.linear_layers():
            current = float((layer.weight == 0).float().mean())
            # l1_unstructured on an already pruned weight prunes a fraction of the remaining entries.
            amount = (target - current) / (1.0 - current)
            prune.l1_unstructured(layer, name="weight", amount=amount)

    def on_train_end(self) -> None:
        # Make the pruning permanent: zeros stay in weight, masks are removed.
        for layer in self.linear_layers():
            if prune.is_pruned(layer):
                prune.remove(layer, "weight")

    def on_train_epoch_end(self) -> None:
        self.log("mode_distance", mode_distance(self, self.config))

    def configure_optimizers(self):
        betas = (self.config.beta1, 0.999)
        generator_opt = torch.optim.Adam(self.generator.parameters(), lr=self.config.generator_lr, betas=betas)
        discriminator_opt = torch.optim.Adam(
            self.discriminator.parameters(), lr=self.config.discriminator_lr, betas=betas
        )
        return [generator_opt, discriminator_opt]


@torch.no_grad()
def generate(model: RingGAN, count: int) -> torch.Tensor:
    was_training = model.training
    model.eval()
    points = model(model.sample_noise(count))
    model.train(was_training)
    return points


def mode_distance(model: RingGAN, config: GanConfig) -> float:
    """Mean distance from generated points to their nearest ring mode (lower is better)."""
    points = generate(model, config.num_eval_samples)
    distances = torch.cdist(points, ring_modes(config).to(points.device))
    return float(distances.min(dim=1).values.mean())


def train_gan(config: GanConfig) -> RingGAN:
    seed_everything(config.seed)
    loader = DataLoader(make_ring_dataset(config), batch_size=config.batch_size, shuffle=True)
    model = RingGAN(config)
    trainer = pl.Trainer(
        max_epochs=config.max_epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, loader)
    return model


def save_outputs(model: RingGAN, config: GanConfig, distance: float) -> None:
    samples = generate(model, config.num_eval_samples).numpy()
    np.save("samples.npy", samples)
    torch.save(model.generator.state_dict(), "generator.pt")
    with open("gan_metrics.json", "w") as handle:
        json.dump({"mode_distance": distance, "config": asdict(config)}, handle, indent=2)


def main() -> None:
    config = GanConfig()
    model = train_gan(config)
    distance = mode_distance(model, config)
    save_outputs(model, config, distance)
    zeros = sum(int((layer.weight == 0).sum()) for layer in model.linear_layers())
    total = sum(layer.weight.numel() for layer in model.linear_layers())
    print(f"linear weight sparsity: {zeros / total:.2f}")
    print(f"final mode distance: {distance:.4f}")


if __name__ == "__main__":
    main()
