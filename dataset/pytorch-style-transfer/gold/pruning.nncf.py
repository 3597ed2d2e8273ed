"""Neural style transfer at toy scale, with no pretrained weights.

Stage 1 (Gatys et al.): optimise the pixels of one image so that its features match a
content image and its Gram matrices match a style image.
Stage 2 (Johnson et al.): train a small feed-forward transform network that stylises any
content image in one pass, using the same perceptual loss.

The feature extractor is a small, randomly initialised and frozen conv net: random conv
features already carry enough texture statistics for Gram-matrix style losses.
"""
import argparse
import json
import os
import random
from dataclasses import asdict, dataclass

import nncf
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler


@dataclass
class StyleConfig:
    image_size: int = 32
    content_weight: float = 5.0
    style_weight: float = 1.0
    pixel_steps: int = 60
    pixel_lr: float = 0.05
    num_train_images: int = 48
    batch_size: int = 8
    epochs: int = 3
    lr: float = 2e-3
    base_channels: int = 16
    seed: int = 3
    # epoch index -> ratio of pruned conv weights in the transform net
    pruning_steps: tuple[tuple[int, float], ...] = ((0, 0.25), (1, 0.5))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_content_images(count: int, size: int, rng: np.random.Generator) -> torch.Tensor:
    """Smooth colour gradients with a bright random rectangle: simple 'scenes'."""
    ys, xs = np.mgrid[0:size, 0:size] / size
    images = []
    for _ in range(count):
        base = np.stack([a * xs + b * ys + c for a, b, c in rng.uniform(-0.5, 0.5, size=(3, 3))])
        y0, x0 = rng.integers(0, size // 2, size=2)
        h, w = rng.integers(size // 4, size // 2, size=2)
        base[:, y0 : y0 + h, x0 : x0 + w] += rng.uniform(0.3, 0.8, size=(3, 1, 1))
        images.append(np.clip(base + 0.5, 0.0, 1.0))
    return torch.tensor(np.stack(images), dtype=torch.float32)


def make_style_image(size: int) -> torch.Tensor:
    """A colourful diagonal-stripe and dot texture."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    stripes = 0.5 + 0.5 * np.sin((xs + ys) * 0.9)
    dots = 0.5 + 0.5 * np.cos(xs * 1.7) * np.cos(ys * 1.7)
    image = np.stack([stripes, dots, 1.0 - stripes * dots])
    return torch.tensor(image[None], dtype=torch.float32)


class FeatureExtractor(nn.Module):
    """Frozen random conv net; returns the activations of each stage."""

    def __init__(self, channels=(3, 16, 32, 32)):
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2) if i > 0 else nn.Identity())
            for i, (c_in, c_out) in enumerate(zip(channels[:-1], channels[1:]))
        )
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                # He init keeps activations at a useful scale through the random stages
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        for param in self.parameters():
            param.requires_grad_(False)

    def forward(self, x):
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        return features


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    batch, channels, height, width = features.shape
    flat = features.reshape(batch, channels, height * width)
    return flat @ flat.transpose(1, 2) / (channels * height * width)


class PerceptualLoss(nn.Module):
    def __init__(self, extractor: FeatureExtractor, style_image: torch.Tensor, content_weight: float, style_weight: float):
        super().__init__()
        self.extractor = extractor
        self.content_weight = content_weight
        self.style_weight = style_weight
        with torch.no_grad():
            self.style_grams = [gram_matrix(f) for f in extractor(style_image)]

    def forward(self, generated: torch.Tensor, content: torch.Tensor):
        gen_features = self.extractor(generated)
        with torch.no_grad():
            content_features = self.extractor(content)
        content_loss = F.mse_loss(gen_features[-1], content_features[-1])
        # relative Gram error per stage, so every stage counts whatever its scale
        style_loss = sum(
            F.mse_loss(gram_matrix(g), s.expand(g.shape[0], -1, -1)) / s.pow(2).mean()
            for g, s in zip(gen_features, self.style_grams)
        ) / len(self.style_grams)
        return self.content_weight * content_loss + self.style_weight * style_loss, content_loss, style_loss


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm1 = nn.InstanceNorm2d(channels, affine=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm2 = nn.InstanceNorm2d(channels, affine=True)

    def forward(self, x):
        y = F.relu(self.norm1(self.conv1(x)))
        return x + self.norm2(self.conv2(y))


class TransformNet(nn.Module):
    """Encoder, residual block, decoder; outputs an image in [0, 1]."""

    def __init__(self, base_channels: int = 16):
        super().__init__()
        c = base_channels
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c, 5, padding=2), nn.InstanceNorm2d(c, affine=True), nn.ReLU(),
            nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.InstanceNorm2d(2 * c, affine=True), nn.ReLU(),
        )
        self.residual = ResidualBlock(2 * c)
        self.decoder = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(2 * c, c, 3, padding=1), nn.InstanceNorm2d(c, affine=True), nn.ReLU(),
            nn.Conv2d(c, 3, 5, padding=2),
        )

    def forward(self, x):
        return torch.sigmoid(self.decoder(self.residual(self.encoder(x))))


def optimise_pixels(content: torch.Tensor, criterion: PerceptualLoss, cfg: StyleConfig) -> tuple[torch.Tensor, float]:
    image = content.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([image], lr=cfg.pixel_lr)
    for step in range(1, cfg.pixel_steps + 1):
        optimizer.zero_grad()
        loss, content_loss, style_loss = criterion(image, content)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            image.clamp_(0.0, 1.0)
        if step % 20 == 0:
            print(f"pixel step {step}: loss={loss.item():.4f} content={content_loss.item():.4f} style={style_loss.item():.4f}")
    return image.detach(), loss.item()


def train_transform_net(net: TransformNet, images: torch.Tensor, criterion: PerceptualLoss, cfg: StyleConfig) -> list[float]:
    pruning_scheduler = MultiStepMagnitudePruningScheduler(
        net, mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL, steps=dict(cfg.pruning_steps)
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    epoch_losses = []
    for epoch in range(1, cfg.epochs + 1):
        pruning_scheduler.step()
        net.train()
        order = torch.randperm(len(images))
        total = 0.0
        for start in range(0, len(images), cfg.batch_size):
            batch = images[order[start : start + cfg.batch_size]]
            optimizer.zero_grad()
            loss, _, _ = criterion(net(batch), batch)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        epoch_losses.append(total / len(images))
        print(f"epoch {epoch}: transform net loss={epoch_losses[-1]:.4f}")
    return epoch_losses


def main() -> None:
    parser = argparse.ArgumentParser(description="Toy neural style transfer")
    parser.add_argument("--epochs", type=int, default=StyleConfig.epochs)
    parser.add_argument("--style-weight", type=float, default=StyleConfig.style_weight)
    parser.add_argument("--out", default="style_outputs")
    args = parser.parse_args()
    cfg = StyleConfig(epochs=args.epochs, style_weight=args.style_weight)
    seed_everything(cfg.seed)
    os.makedirs(args.out, exist_ok=True)

    rng = np.random.default_rng(cfg.seed)
    images = make_content_images(cfg.num_train_images + 1, cfg.image_size, rng)
    train_images, held_out = images[:-1], images[-1:]
    criterion = PerceptualLoss(FeatureExtractor(), make_style_image(cfg.image_size), cfg.content_weight, cfg.style_weight)

    stylised, pixel_loss = optimise_pixels(held_out, criterion, cfg)
    np.save(os.path.join(args.out, "stylised_pixels.npy"), stylised.numpy())

    net = TransformNet(cfg.base_channels)
    # only the transform net is pruned (the frozen random feature extractor is part of the loss)
    net = nncf.prune(
        net,
        mode=nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL,
        ratio=dict(cfg.pruning_steps)[0],
        examples_inputs=train_images[:2],
    )
    epoch_losses = train_transform_net(net, train_images, criterion, cfg)
    net.eval()
    with torch.no_grad():
        fast_output = net(held_out)
        held_out_loss, _, _ = criterion(fast_output, held_out)
    print(f"pruning ratio of the transform net convs: {nncf.pruning_statistic(net).pruning_ratio:.2f}")
    np.save(os.path.join(args.out, "stylised_fast.npy"), fast_output.numpy())
    torch.save(net.state_dict(), os.path.join(args.out, "transform_net.pt"))
    with open(os.path.join(args.out, "losses.json"), "w") as f:
        json.dump({"config": asdict(cfg), "pixel_loss": pixel_loss, "epoch_losses": epoch_losses,
                   "held_out_loss": held_out_loss.item()}, f, indent=2)
    print(f"final held-out perceptual loss: {held_out_loss.item():.4f}")


if __name__ == "__main__":
    main()
