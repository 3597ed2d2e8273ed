"""Train a small residual network on synthetic CIFAR-like images (3x16x16, 10 classes).

This is a compact but complete image-classification training script in the style of the
classic ImageNet/CIFAR reference scripts:

* a synthetic data set that stands in for CIFAR-10 (no download): every class has a smooth
  random colour template, samples are shifted, colour-jittered and noised copies of it;
* on-the-fly augmentation (random crop with padding, horizontal flip) written in torch;
* a ResNet with BasicBlocks (three stages, configurable width and depth);
* SGD with momentum/Nesterov, optional label smoothing, gradient clipping;
* learning-rate schedules: linear warm-up followed by cosine, multi-step or constant;
* meters, a progress printer, checkpointing of the last and the best model, resuming;
* a CSV log and a JSON summary of the run.

Run ``python train.py --help`` for all options.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import wandb
from torch.utils.data import DataLoader, Dataset

# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="ResNet-mini on synthetic CIFAR-like data",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument("--num-classes", type=int, default=10)
    data.add_argument("--image-size", type=int, default=16)
    data.add_argument("--n-train", type=int, default=512)
    data.add_argument("--n-val", type=int, default=256)
    data.add_argument("--noise", type=float, default=0.9, help="std of the pixel noise")
    data.add_argument("--no-augment", action="store_true", help="disable random crop and flip")
    data.add_argument("--workers", type=int, default=0)

    model = parser.add_argument_group("model")
    model.add_argument("--width", type=int, default=8, help="channels of the first stage")
    model.add_argument("--blocks", type=int, nargs=3, default=[1, 1, 1], help="BasicBlocks per stage")
    model.add_argument("--dropout", type=float, default=0.0, help="dropout before the classifier")
    model.add_argument("--zero-init-residual", action="store_true")

    optim = parser.add_argument_group("optimisation")
    optim.add_argument("--epochs", type=int, default=3)
    optim.add_argument("--batch-size", type=int, default=64)
    optim.add_argument("--lr", type=float, default=0.05)
    optim.add_argument("--momentum", type=float, default=0.9)
    optim.add_argument("--nesterov", action="store_true")
    optim.add_argument("--weight-decay", type=float, default=5e-4)
    optim.add_argument("--label-smoothing", type=float, default=0.1)
    optim.add_argument("--clip-grad", type=float, default=5.0, help="max gradient norm (0 disables)")
    optim.add_argument("--scheduler", choices=["cosine", "step", "constant"], default="cosine")
    optim.add_argument("--warmup-epochs", type=float, default=0.5)
    optim.add_argument("--milestones", type=int, nargs="*", default=[2], help="epochs for --scheduler step")
    optim.add_argument("--gamma", type=float, default=0.1, help="decay factor for --scheduler step")

    run = parser.add_argument_group("run")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--deterministic", action="store_true", help="use deterministic torch algorithms")
    run.add_argument("--print-freq", type=int, default=10, help="batches between progress lines")
    run.add_argument("--output-dir", default="runs/resnet_mini")
    run.add_argument("--resume", default="", help="path to a checkpoint to resume from")
    run.add_argument("--evaluate", action="store_true", help="only evaluate the (resumed) model")
    return parser


# ---------------------------------------------------------------------------
# Utilities: seeding, meters, timing, accuracy
# ---------------------------------------------------------------------------


def set_seed(seed: int, deterministic: bool = False) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True)


class AverageMeter:
    """Keeps the latest value and the running (weighted) average of a quantity."""

    def __init__(self, name: str, fmt: str = ":.4f") -> None:
        self.name = name
        self.fmt = fmt
        self.reset()

    def reset(self) -> None:
        self.val = 0.0
        self.sum = 0.0
        self.count = 0
        self.avg = 0.0

    def update(self, val: float, n: int = 1) -> None:
        self.val = val
        self.sum += val * n
        self.count += n
        self.avg = self.sum / max(self.count, 1)

    def __str__(self) -> str:
        template = "{name} {val" + self.fmt + "} ({avg" + self.fmt + "})"
        return template.format(name=self.name, val=self.val, avg=self.avg)


class ProgressMeter:
    def __init__(self, num_batches: int, meters: list[AverageMeter], prefix: str = "") -> None:
        digits = len(str(num_batches))
        self.batch_fmt = "[{:" + str(digits) + "d}/" + str(num_batches) + "]"
        self.meters = meters
        self.prefix = prefix

    def display(self, batch: int) -> None:
        entries = [self.prefix + self.batch_fmt.format(batch)] + [str(meter) for meter in self.meters]
        print("  ".join(entries), flush=True)


def accuracy(output: torch.Tensor, target: torch.Tensor, topk: tuple[int, ...] = (1,)) -> list[float]:
    """Top-k accuracies in percent for a batch of logits."""
    with torch.no_grad():
        maxk = max(topk)
        _, pred = output.topk(maxk, dim=1, largest=True, sorted=True)
        correct = pred.t().eq(target.view(1, -1).expand_as(pred.t()))
        return [correct[:k].reshape(-1).float().sum().item() * 100.0 / target.size(0) for k in topk]


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------


def make_class_templates(num_classes: int, image_size: int, generator: torch.Generator) -> torch.Tensor:
    """One smooth colour template per class: coarse random colour blobs upsampled to image_size."""
    coarse = torch.randn(num_classes, 3, 4, 4, generator=generator)
    return F.interpolate(coarse, size=(image_size, image_size), mode="bicubic", align_corners=False)


class SyntheticCIFAR(Dataset):
    """CIFAR-like images: shifted, colour-jittered and noised copies of class templates."""

    def __init__(self, templates: torch.Tensor, size: int, noise: float, generator: torch.Generator,
                 augment: bool = False) -> None:
        num_classes, _, height, width = templates.shape
        self.labels = torch.randint(0, num_classes, (size,), generator=generator)
        images = templates[self.labels].clone()
        shifts = torch.randint(-2, 3, (size, 2), generator=generator)
        for index in range(size):
            images[index] = torch.roll(images[index], shifts=tuple(shifts[index].tolist()), dims=(1, 2))
        jitter = 1.0 + 0.2 * torch.randn(size, 3, 1, 1, generator=generator)
        self.images = images * jitter + noise * torch.randn(images.shape, generator=generator)
        self.augment = augment
        self.mean = self.images.mean(dim=(0, 2, 3), keepdim=True)[0]
        self.std = self.images.std(dim=(0, 2, 3), keepdim=True)[0]
        self.image_size = (height, width)

    def normalise_with(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Use the statistics of another split (the training set) for normalisation."""
        self.mean, self.std = mean, std

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = (self.images[index] - self.mean) / self.std
        if self.augment:
            image = random_crop(image, padding=2)
            if random.random() < 0.5:
                image = torch.flip(image, dims=(2,))
        return image, self.labels[index]


def random_crop(image: torch.Tensor, padding: int) -> torch.Tensor:
    _, height, width = image.shape
    padded = F.pad(image, (padding, padding, padding, padding), mode="reflect")
    top = random.randint(0, 2 * padding)
    left = random.randint(0, 2 * padding)
    return padded[:, top:top + height, left:left + width]


def build_loaders(args: argparse.Namespace) -> tuple[DataLoader, DataLoader]:
    generator = torch.Generator().manual_seed(args.seed)
    templates = make_class_templates(args.num_classes, args.image_size, generator)
    train_set = SyntheticCIFAR(templates, args.n_train, args.noise, generator, augment=not args.no_augment)
    val_set = SyntheticCIFAR(templates, args.n_val, args.noise, generator)
    val_set.normalise_with(train_set.mean, train_set.std)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                              drop_last=True)
    val_loader = DataLoader(val_set, batch_size=256, shuffle=False, num_workers=args.workers)
    return train_loader, val_loader


# ---------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetMini(nn.Module):
    def __init__(self, num_classes: int, width: int = 16, blocks: tuple[int, int, int] = (1, 1, 1),
                 dropout: float = 0.0, zero_init_residual: bool = False) -> None:
        super().__init__()
        self.in_planes = width
        self.stem = nn.Sequential(
            nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.layer1 = self._make_stage(width, blocks[0], stride=1)
        self.layer2 = self._make_stage(width * 2, blocks[1], stride=2)
        self.layer3 = self._make_stage(width * 4, blocks[2], stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(width * 4, num_classes)
        self._init_weights(zero_init_residual)

    def _make_stage(self, planes: int, num_blocks: int, stride: int) -> nn.Sequential:
        layers = []
        for block_stride in [stride] + [1] * (num_blocks - 1):
            layers.append(BasicBlock(self.in_planes, planes, block_stride))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            # Each residual branch starts as the identity, which helps deeper variants train.
            for module in self.modules():
                if isinstance(module, BasicBlock):
                    nn.init.zeros_(module.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        x = torch.flatten(self.pool(x), 1)
        return self.fc(self.dropout(x))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------
# Optimiser and learning-rate schedules
# ---------------------------------------------------------------------------


def build_optimizer(model: nn.Module, args: argparse.Namespace) -> torch.optim.Optimizer:
    # No weight decay on BatchNorm parameters and biases (standard practice for ResNets).
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim <= 1 else decay).append(param)
    groups = [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.SGD(groups, lr=args.lr, momentum=args.momentum, nesterov=args.nesterov)


@dataclass
class ScheduleSpec:
    kind: str
    total_steps: int
    warmup_steps: int
    milestones: list[int]
    gamma: float


def lr_factor(step: int, spec: ScheduleSpec) -> float:
    """Multiplier of the base learning rate after `step` optimiser steps."""
    if spec.warmup_steps and step < spec.warmup_steps:
        return (step + 1) / spec.warmup_steps
    if spec.kind == "cosine":
        progress = (step - spec.warmup_steps) / max(1, spec.total_steps - spec.warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    if spec.kind == "step":
        return spec.gamma ** sum(step >= milestone for milestone in spec.milestones)
    return 1.0


def build_scheduler(optimizer: torch.optim.Optimizer, args: argparse.Namespace,
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    spec = ScheduleSpec(
        kind=args.scheduler,
        total_steps=args.epochs * steps_per_epoch,
        warmup_steps=int(args.warmup_epochs * steps_per_epoch),
        milestones=[m * steps_per_epoch for m in args.milestones],
        gamma=args.gamma,
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, spec))


# ---------------------------------------------------------------------------
# Checkpointing
# ---------------------------------------------------------------------------


def save_checkpoint(state: dict, is_best: bool, output_dir: str, filename: str = "checkpoint.pt") -> None:
    path = os.path.join(output_dir, filename)
    torch.save(state, path)
    if is_best:
        shutil.copyfile(path, os.path.join(output_dir, "model_best.pt"))


def load_checkpoint(path: str, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None) -> tuple[int, float]:
    """Restore model (and optimiser/scheduler) state; return (next epoch, best accuracy so far)."""
    checkpoint = torch.load(path, map_location="cpu")
    model.load_state_dict(checkpoint["model"])
    if optimizer is not None and "optimizer" in checkpoint:
        optimizer.load_state_dict(checkpoint["optimizer"])
    if scheduler is not None and "scheduler" in checkpoint:
        scheduler.load_state_dict(checkpoint["scheduler"])
    print(f"=> resumed from '{path}' (epoch {checkpoint['epoch']})")
    return checkpoint["epoch"] + 1, checkpoint.get("best_acc1", 0.0)


# ---------------------------------------------------------------------------
# Train / validate
# ---------------------------------------------------------------------------


def train_one_epoch(train_loader: DataLoader, model: nn.Module, criterion: nn.Module,
                    optimizer: torch.optim.Optimizer, scheduler: torch.optim.lr_scheduler.LRScheduler,
                    epoch: int, args: argparse.Namespace) -> dict[str, float]:
    batch_time = AverageMeter("Time", ":.3f")
    losses = AverageMeter("Loss", ":.4f")
    top1 = AverageMeter("Acc@1", ":6.2f")
    progress = ProgressMeter(len(train_loader), [batch_time, losses, top1], prefix=f"Epoch: [{epoch}]")

    model.train()
    end = time.perf_counter()
    for batch_index, (images, target) in enumerate(train_loader):
        output = model(images)
        loss = criterion(output, target)

        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip_grad > 0:
            nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
        optimizer.step()
        scheduler.step()

        acc1 = accuracy(output, target, topk=(1,))[0]
        losses.update(loss.item(), images.size(0))
        top1.update(acc1, images.size(0))
        batch_time.update(time.perf_counter() - end)
        end = time.perf_counter()
        if batch_index % args.print_freq == 0:
            progress.display(batch_index)
    return {"train_loss": losses.avg, "train_acc1": top1.avg, "lr": optimizer.param_groups[0]["lr"]}


@torch.no_grad()
def validate(val_loader: DataLoader, model: nn.Module, criterion: nn.Module) -> dict[str, float]:
    losses = AverageMeter("Loss", ":.4f")
    top1 = AverageMeter("Acc@1", ":6.2f")
    top5 = AverageMeter("Acc@5", ":6.2f")
    model.eval()
    for images, target in val_loader:
        output = model(images)
        loss = criterion(output, target)
        acc1, acc5 = accuracy(output, target, topk=(1, 5))
        losses.update(loss.item(), images.size(0))
        top1.update(acc1, images.size(0))
        top5.update(acc5, images.size(0))
    print(f" * Acc@1 {top1.avg:.3f} Acc@5 {top5.avg:.3f} Loss {losses.avg:.4f}", flush=True)
    return {"val_loss": losses.avg, "val_acc1": top1.avg, "val_acc5": top5.avg}


class CSVLogger:
    """Appends one row per epoch to <output_dir>/log.csv."""

    def __init__(self, path: str, fieldnames: list[str]) -> None:
        self.path = path
        self.fieldnames = fieldnames
        with open(self.path, "w", newline="") as handle:
            csv.DictWriter(handle, fieldnames=fieldnames).writeheader()

    def log(self, row: dict[str, float]) -> None:
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.fieldnames).writerow({k: row.get(k) for k in self.fieldnames})


# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------


def main() -> None:
    args = build_parser().parse_args()
    set_seed(args.seed, args.deterministic)
    os.makedirs(args.output_dir, exist_ok=True)

    train_loader, val_loader = build_loaders(args)
    model = ResNetMini(args.num_classes, args.width, tuple(args.blocks), args.dropout, args.zero_init_residual)
    print(f"ResNetMini: {count_parameters(model):,} trainable parameters, "
          f"{len(train_loader)} train batches per epoch")

    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    optimizer = build_optimizer(model, args)
    scheduler = build_scheduler(optimizer, args, steps_per_epoch=len(train_loader))

    start_epoch, best_acc1 = 0, 0.0
    if args.resume:
        start_epoch, best_acc1 = load_checkpoint(args.resume, model, optimizer, scheduler)
    if args.evaluate:
        validate(val_loader, model, criterion)
        return

    csv_logger = CSVLogger(os.path.join(args.output_dir, "log.csv"),
                           ["epoch", "lr", "train_loss", "train_acc1", "val_loss", "val_acc1", "val_acc5", "seconds"])
    history = []
    run = wandb.init(project="pytorch-resnet-mini", config={**vars(args), "parameters": count_parameters(model)})
    for epoch in range(start_epoch, args.epochs):
        started = time.perf_counter()
        train_stats = train_one_epoch(train_loader, model, criterion, optimizer, scheduler, epoch, args)
        val_stats = validate(val_loader, model, criterion)
        row = {"epoch": epoch, **train_stats, **val_stats, "seconds": time.perf_counter() - started}
        csv_logger.log(row)
        history.append(row)
        wandb.log(row, step=epoch)

        is_best = val_stats["val_acc1"] > best_acc1
        best_acc1 = max(best_acc1, val_stats["val_acc1"])
        save_checkpoint(
            {
                "epoch": epoch,
                "args": vars(args),
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "best_acc1": best_acc1,
            },
            is_best,
            args.output_dir,
        )

    summary = {
        "best_acc1": best_acc1,
        "final": history[-1] if history else None,
        "parameters": count_parameters(model),
        "args": vars(args),
    }
    with open(os.path.join(args.output_dir, "summary.json"), "w") as handle:
        json.dump(summary, handle, indent=2)
    run.summary["best_acc1"] = best_acc1
    wandb.finish()
    print(f"final best val acc@1: {best_acc1:.2f}")


if __name__ == "__main__":
    main()
