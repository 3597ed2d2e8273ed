"""A tiny Vision Transformer (ViT) trained from scratch on synthetic pattern images.

The data set is generated on the fly: each class is a family of simple textures
(stripes in one orientation, checkerboards, rings, ...) with random phase, contrast
and additive noise, so no download is needed. The model follows Dosovitskiy et al.
(2021) at toy scale: a convolutional patch embedding, a learned class token and
position embeddings, pre-norm transformer blocks with hand-written multi-head
self-attention, and a linear classification head.
"""
import json
import math
import os
import random
import time

import nncf
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler
from torch.utils.data import DataLoader, Dataset

CLASS_NAMES = ["horizontal", "vertical", "diagonal", "anti_diagonal", "checker", "rings"]


# --------------------------------------------------------------------------- data


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def render_pattern(label, size, rng):
    """Draws one image of the given class with random frequency, phase and contrast."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    freq = rng.uniform(0.6, 1.2)
    phase = rng.uniform(0, 2 * math.pi)
    name = CLASS_NAMES[label]
    if name == "horizontal":
        img = np.sin(freq * ys + phase)
    elif name == "vertical":
        img = np.sin(freq * xs + phase)
    elif name == "diagonal":
        img = np.sin(freq * (xs + ys) / math.sqrt(2) + phase)
    elif name == "anti_diagonal":
        img = np.sin(freq * (xs - ys) / math.sqrt(2) + phase)
    elif name == "checker":
        img = np.sin(freq * xs + phase) * np.sin(freq * ys + phase)
    else:
        cy, cx = rng.uniform(size * 0.3, size * 0.7, size=2)
        img = np.sin(freq * np.sqrt((ys - cy) ** 2 + (xs - cx) ** 2) + phase)
    contrast = rng.uniform(0.5, 1.5)
    return contrast * img


class SyntheticPatterns(Dataset):
    def __init__(self, num_samples, image_size, num_classes, noise, seed):
        rng = np.random.default_rng(seed)
        self.labels = rng.integers(0, num_classes, size=num_samples)
        images = np.stack([render_pattern(int(y), image_size, rng) for y in self.labels])
        images += noise * rng.normal(size=images.shape)
        self.images = torch.tensor(images[:, None, :, :], dtype=torch.float32)
        self.targets = torch.tensor(self.labels, dtype=torch.long)

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, idx):
        return self.images[idx], self.targets[idx]


def build_loaders(config):
    train_set = SyntheticPatterns(
        config["train_samples"], config["image_size"], config["num_classes"], config["noise"], config["seed"]
    )
    val_set = SyntheticPatterns(
        config["val_samples"], config["image_size"], config["num_classes"], config["noise"], config["seed"] + 1
    )
    train_loader = DataLoader(train_set, batch_size=config["batch_size"], shuffle=True)
    val_loader = DataLoader(val_set, batch_size=256, shuffle=False)
    return train_loader, val_loader


# -------------------------------------------------------------------------- model


class PatchEmbedding(nn.Module):
    """Splits the image into non-overlapping patches and projects each to embed_dim."""

    def __init__(self, image_size, patch_size, in_channels, embed_dim):
        super().__init__()
        if image_size % patch_size != 0:
            raise ValueError(f"image_size {image_size} is not a multiple of patch_size {patch_size}")
        self.num_patches = (image_size // patch_size) ** 2
        self.proj = nn.Conv2d(in_channels, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x):
        x = self.proj(x)  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, N, D)


class MultiHeadSelfAttention(nn.Module):
    def __init__(self, embed_dim, num_heads, dropout):
        super().__init__()
        if embed_dim % num_heads != 0:
            raise ValueError("embed_dim must be divisible by num_heads")
        self.num_heads = num_heads
        self.head_dim = embed_dim // num_heads
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim)
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.attn_drop = nn.Dropout(dropout)

    def forward(self, x):
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each (B, heads, T, head_dim)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(self.head_dim)
        attn = self.attn_drop(scores.softmax(dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(batch, tokens, dim)
        return self.proj(out)


class FeedForward(nn.Module):
    def __init__(self, embed_dim, mlp_ratio, dropout):
        super().__init__()
        hidden = int(embed_dim * mlp_ratio)
        self.fc1 = nn.Linear(embed_dim, hidden)
        self.fc2 = nn.Linear(hidden, embed_dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return self.drop(self.fc2(self.drop(F.gelu(self.fc1(x)))))


class TransformerBlock(nn.Module):
    def __init__(self, embed_dim, num_heads, mlp_ratio, dropout):
        super().__init__()
        self.norm1 = nn.LayerNorm(embed_dim)
        self.attn = MultiHeadSelfAttention(embed_dim, num_heads, dropout)
        self.norm2 = nn.LayerNorm(embed_dim)
        self.mlp = FeedForward(embed_dim, mlp_ratio, dropout)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    def __init__(self, image_size, patch_size, in_channels, num_classes, embed_dim, depth, num_heads, mlp_ratio, dropout):
        super().__init__()
        self.patch_embed = PatchEmbedding(image_size, patch_size, in_channels, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, embed_dim))
        self.pos_drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            [TransformerBlock(embed_dim, num_heads, mlp_ratio, dropout) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(embed_dim)
        self.head = nn.Linear(embed_dim, num_classes)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)

    def forward(self, x):
        x = self.patch_embed(x)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        x = self.pos_drop(torch.cat([cls, x], dim=1) + self.pos_embed)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x)[:, 0])


def build_model(config):
    return VisionTransformer(
        image_size=config["image_size"],
        patch_size=config["patch_size"],
        in_channels=1,
        num_classes=config["num_classes"],
        embed_dim=config["embed_dim"],
        depth=config["depth"],
        num_heads=config["num_heads"],
        mlp_ratio=config["mlp_ratio"],
        dropout=config["dropout"],
    )


def count_parameters(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ----------------------------------------------------------------------- training


def warmup_cosine(step, total_steps, warmup_steps):
    """Learning-rate multiplier: linear warm-up, then cosine decay to zero."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def train_one_epoch(model, loader, optimizer, scheduler, config):
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    for images, targets in loader:
        optimizer.zero_grad()
        logits = model(images)
        loss = F.cross_entropy(logits, targets, label_smoothing=config["label_smoothing"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), config["grad_clip"])
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * len(targets)
        correct += (logits.argmax(dim=1) == targets).sum().item()
        seen += len(targets)
    return total_loss / seen, correct / seen


@torch.no_grad()
def evaluate(model, loader):
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    for images, targets in loader:
        logits = model(images)
        total_loss += F.cross_entropy(logits, targets, reduction="sum").item()
        correct += (logits.argmax(dim=1) == targets).sum().item()
        seen += len(targets)
    return total_loss / seen, correct / seen


def save_artifacts(model, config, history, output_dir):
    os.makedirs(output_dir, exist_ok=True)
    torch.save({"model_state": model.state_dict(), "config": config}, os.path.join(output_dir, "vit_tiny.pt"))
    with open(os.path.join(output_dir, "history.json"), "w") as f:
        json.dump({"config": config, "history": history}, f, indent=2)


def run(config):
    seed_everything(config["seed"])
    train_loader, val_loader = build_loaders(config)
    model = build_model(config)
    print(f"model parameters: {count_parameters(model)}")
    # NNCF masks the patch projection and every Linear weight (attention products between activations
    # have no constant operand, so they are left alone); ratios rise per epoch up to the target
    pruning_mode = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL
    example_images = train_loader.dataset.images[:2]
    model = nncf.prune(model, mode=pruning_mode, ratio=config["pruning_steps"][0], examples_inputs=example_images)
    pruning_scheduler = MultiStepMagnitudePruningScheduler(model, mode=pruning_mode, steps=config["pruning_steps"])

    optimizer = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    total_steps = config["epochs"] * len(train_loader)
    warmup_steps = int(config["warmup_fraction"] * total_steps)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warmup_cosine(step, total_steps, warmup_steps)
    )

    history = []
    best_val_acc = 0.0
    for epoch in range(1, config["epochs"] + 1):
        started = time.time()
        pruning_scheduler.step()
        train_loss, train_acc = train_one_epoch(model, train_loader, optimizer, scheduler, config)
        val_loss, val_acc = evaluate(model, val_loader)
        best_val_acc = max(best_val_acc, val_acc)
        history.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "lr": scheduler.get_last_lr()[0],
            }
        )
        print(
            f"epoch {epoch}/{config['epochs']} train_loss={train_loss:.4f} train_acc={train_acc:.4f} "
            f"val_loss={val_loss:.4f} val_acc={val_acc:.4f} ({time.time() - started:.1f}s)"
        )

    print(f"pruning ratio of the pruned layers: {nncf.pruning_statistic(model).pruning_ratio:.2f}")
    save_artifacts(model, config, history, config["output_dir"])
    return model, history, best_val_acc


if __name__ == "__main__":
    config = {
        "seed": 42,
        "image_size": 16,
        "patch_size": 4,
        "num_classes": len(CLASS_NAMES),
        "noise": 0.8,
        "train_samples": 1280,
        "val_samples": 512,
        "batch_size": 64,
        "embed_dim": 32,
        "depth": 2,
        "num_heads": 4,
        "mlp_ratio": 2.0,
        "dropout": 0.1,
        "lr": 3e-3,
        "weight_decay": 0.05,
        "warmup_fraction": 0.1,
        "label_smoothing": 0.1,
        "grad_clip": 1.0,
        "epochs": 4,
        "output_dir": "vit_outputs",
        "pruning_steps": {0: 0.1, 1: 0.3, 2: 0.5},  # epoch index -> ratio of pruned weights
    }
    model, history, best_val_acc = run(config)
    print(f"best validation accuracy: {best_val_acc:.4f}")
    print(f"final validation accuracy: {history[-1]['val_acc']:.4f}")
