"""Siamese embedding network trained with a contrastive loss on synthetic pairs.

Each synthetic "identity" is a random prototype vector; samples are noisy copies of it.
Pairs of samples from the same identity should embed close together, pairs from
different identities at least `margin` apart.
"""
import argparse
import json
import os
import random

import nncf
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from nncf.torch.function_hook.pruning.magnitude.schedulers import MultiStepMagnitudePruningScheduler
from torch.utils.data import DataLoader, TensorDataset


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_prototypes(num_classes: int, input_dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(num_classes, input_dim)).astype(np.float32)


def make_pairs(prototypes: np.ndarray, num_pairs: int, noise: float, seed: int):
    """Returns (left, right, same) tensors; same is 1.0 for pairs of one identity."""
    rng = np.random.default_rng(seed)
    num_classes, input_dim = prototypes.shape
    left_cls = rng.integers(0, num_classes, size=num_pairs)
    same = rng.random(num_pairs) < 0.5
    offsets = rng.integers(1, num_classes, size=num_pairs)
    right_cls = np.where(same, left_cls, (left_cls + offsets) % num_classes)
    left = prototypes[left_cls] + noise * rng.normal(size=(num_pairs, input_dim))
    right = prototypes[right_cls] + noise * rng.normal(size=(num_pairs, input_dim))
    return (
        torch.tensor(left, dtype=torch.float32),
        torch.tensor(right, dtype=torch.float32),
        torch.tensor(same, dtype=torch.float32),
    )


class EmbeddingNet(nn.Module):
    def __init__(self, input_dim: int, hidden_size: int, embedding_dim: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(input_dim, hidden_size)
        self.fc2 = nn.Linear(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, embedding_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dropout(F.relu(self.fc1(x)))
        x = F.relu(self.fc2(x))
        return self.out(x)


class SiameseNet(nn.Module):
    """Both branches share one EmbeddingNet; forward returns the pair distance."""

    def __init__(self, embedding: EmbeddingNet):
        super().__init__()
        self.embedding = embedding

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return F.pairwise_distance(self.embedding(left), self.embedding(right))


def contrastive_loss(distance: torch.Tensor, same: torch.Tensor, margin: float) -> torch.Tensor:
    positive = same * distance.pow(2)
    negative = (1.0 - same) * F.relu(margin - distance).pow(2)
    return 0.5 * (positive + negative).mean()


def train_epoch(model, loader, optimizer, margin: float) -> float:
    model.train()
    total, count = 0.0, 0
    for left, right, same in loader:
        optimizer.zero_grad()
        loss = contrastive_loss(model(left, right), same, margin)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(same)
        count += len(same)
    return total / count


@torch.no_grad()
def evaluate(model, loader, margin: float) -> tuple[float, float]:
    """Loss and verification accuracy (a pair is 'same' when distance < margin / 2)."""
    model.eval()
    total, correct, count = 0.0, 0, 0
    for left, right, same in loader:
        distance = model(left, right)
        total += contrastive_loss(distance, same, margin).item() * len(same)
        predicted_same = (distance < margin / 2).float()
        correct += (predicted_same == same).sum().item()
        count += len(same)
    return total / count, correct / count


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Siamese network with contrastive loss")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden-size", type=int, default=128)
    parser.add_argument("--embedding-dim", type=int, default=16)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--margin", type=float, default=2.0)
    parser.add_argument("--num-classes", type=int, default=20)
    parser.add_argument("--input-dim", type=int, default=32)
    parser.add_argument("--noise", type=float, default=1.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", type=str, default="outputs")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    set_seed(args.seed)
    os.makedirs(args.output_dir, exist_ok=True)

    prototypes = make_prototypes(args.num_classes, args.input_dim, seed=args.seed)
    train_data = make_pairs(prototypes, 4000, args.noise, seed=args.seed + 1)
    val_data = make_pairs(prototypes, 1000, args.noise, seed=args.seed + 2)
    train_loader = DataLoader(TensorDataset(*train_data), batch_size=args.batch_size, shuffle=True)
    val_loader = DataLoader(TensorDataset(*val_data), batch_size=256)

    embedding = EmbeddingNet(args.input_dim, args.hidden_size, args.embedding_dim, args.dropout)
    model = SiameseNet(embedding)
    # NNCF inserts magnitude-pruning masks on every Linear weight; the scheduler raises the ratio per epoch
    mode = nncf.PruneMode.UNSTRUCTURED_MAGNITUDE_LOCAL
    model = nncf.prune(model, mode=mode, ratio=0.1, examples_inputs=(train_data[0][:2], train_data[1][:2]))
    pruning_scheduler = MultiStepMagnitudePruningScheduler(model, mode=mode, steps={0: 0.1, 1: 0.3, 2: 0.5})
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    history = []
    for epoch in range(1, args.epochs + 1):
        pruning_scheduler.step()
        train_loss = train_epoch(model, train_loader, optimizer, args.margin)
        val_loss, val_acc = evaluate(model, val_loader, args.margin)
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss, "val_acc": val_acc})
        print(f"epoch {epoch}: train_loss={train_loss:.4f} val_loss={val_loss:.4f} val_acc={val_acc:.4f}")

    print(f"pruning ratio of the pruned layers: {nncf.pruning_statistic(model).pruning_ratio:.2f}")
    torch.save(model.state_dict(), os.path.join(args.output_dir, "siamese.pt"))
    with open(os.path.join(args.output_dir, "metrics.json"), "w") as f:
        json.dump({"history": history, "final_val_acc": history[-1]["val_acc"]}, f, indent=2)
    print(f"final pair accuracy: {history[-1]['val_acc']:.4f}")


if __name__ == "__main__":
    main()
