"""tracking.wandb for raw PyTorch training loops: a W&B run around the training with the script's
hyperparameters as config, and ``wandb.log`` of the losses/metrics its epoch loops compute."""

from __future__ import annotations

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports
from .._tracking import MetricLog, ModuleIndex, apply_edits, plan_torch_tracking, project_name


def wandb_log_call(log: MetricLog) -> str:
    entries = [name if name.startswith("**") else f'"{name}": {value}' for name, value in log.values.items()]
    if log.step and log.step not in log.values:
        entries.append(f'"{log.step}": {log.step}')
    return f"wandb.log({{{', '.join(entries)}}})"


class TorchWandbTracking(ActionCodemod):
    """Find where the training starts (as for MLflow), wrap from there to the end of that scope
    in ``with wandb.init(project=..., config=...):`` (the run finishes when the block ends) and
    ``wandb.log`` every loss/metric value each epoch loop computes, with its loop counter."""

    ACTION = "tracking.wandb"
    FRAMEWORKS = ("pytorch",)
    DESCRIPTION = "Add Weights & Biases tracking to a PyTorch training loop"

    EXAMPLES = [
        Example(
            before='''\
"""Fit a line with SGD."""
import torch

LR = 0.1

model = torch.nn.Linear(3, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=LR)
x, y = torch.randn(32, 3), torch.randn(32, 1)
for epoch in range(5):
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
''',
            after='''\
"""Fit a line with SGD."""
import torch
import wandb

LR = 0.1

model = torch.nn.Linear(3, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=LR)
x, y = torch.randn(32, 3), torch.randn(32, 1)
with wandb.init(project="fit-line-sgd", config={"lr": LR, "optimizer": "SGD"}):
    for epoch in range(5):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        wandb.log({"loss": loss.item(), "epoch": epoch})
        loss.backward()
        optimizer.step()
''',
        ),
        Example(
            before='''\
import argparse

import torch


def train(args, model, data):
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        total = 0.0
        for x, y in data:
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item()
        epoch_loss = total / len(data)
        print(epoch, epoch_loss)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    train(args, torch.nn.Linear(2, 1), [(torch.randn(4, 2), torch.randn(4, 1))])
''',
            after='''\
import argparse

import torch
import wandb


def train(args, model, data):
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    with wandb.init(project="training", config={**vars(args), "optimizer": "Adam"}):
        for epoch in range(args.epochs):
            total = 0.0
            for x, y in data:
                optimizer.zero_grad()
                loss = torch.nn.functional.mse_loss(model(x), y)
                loss.backward()
                optimizer.step()
                total += loss.item()
            epoch_loss = total / len(data)
            wandb.log({"epoch_loss": epoch_loss, "epoch": epoch})
            print(epoch, epoch_loss)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    train(args, torch.nn.Linear(2, 1), [(torch.randn(4, 2), torch.randn(4, 1))])
''',
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import torch
import wandb

model = torch.nn.Linear(2, 1)
for step in range(3):
    model(torch.randn(4, 2)).sum().backward()
''',
            reason="already uses W&B",
        ),
        Decline(
            source='''\
import torch

LR = 0.1
model = torch.nn.Linear(2, 1)
for batch in [torch.randn(4, 2)] * 3:
    model(batch).sum().backward()
''',
            reason="no per-epoch metric",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        imports = Imports.of(tree)
        if imports.uses("wandb"):
            raise SkipFile("the script already uses W&B (wandb)")
        plan = plan_torch_tracking(tree, ModuleIndex.of(tree, imports))
        after: dict[int, list[str]] = {}
        for log in [*plan.epoch_logs, *plan.final_logs]:
            after.setdefault(id(log.anchor), []).append(wandb_log_call(log))
        AddImportsVisitor.add_needed_import(self.context, "wandb")
        if plan.hyperparameters.needs_dataclasses:
            AddImportsVisitor.add_needed_import(self.context, "dataclasses")
        project = project_name(tree, self.context.filename)
        config = plan.hyperparameters.dict_expression()
        return apply_edits(tree, after=after, region=plan.region, with_item=f'wandb.init(project="{project}", config={config})')
