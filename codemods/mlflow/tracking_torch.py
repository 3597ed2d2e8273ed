"""tracking.mlflow for raw PyTorch training loops: a run around the training, the script's
hyperparameters as params, and the losses/metrics its epoch loops already compute as metrics."""

from __future__ import annotations

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports
from .._tracking import MetricLog, ModuleIndex, apply_edits, plan_torch_tracking


def mlflow_metric_call(log: MetricLog) -> str:
    step = f", step={log.step}" if log.step else ""
    spreads = [key[2:] for key in log.values if key.startswith("**")]
    plain = {name: value for name, value in log.values.items() if not name.startswith("**")}
    if len(plain) == 1 and not spreads:
        ((name, value),) = plain.items()
        return f'mlflow.log_metric("{name}", {value}{step})'
    if len(spreads) == 1 and not plain:
        return f"mlflow.log_metrics({spreads[0]}{step})"
    entries = ", ".join([*(f"**{name}" for name in spreads), *(f'"{name}": {value}' for name, value in plain.items())])
    return f"mlflow.log_metrics({{{entries}}}{step})"


class TorchMlflowTracking(ActionCodemod):
    """Find where the training starts (following ``main()`` and single training calls from the
    entry point), wrap from there to the end of that scope in ``mlflow.start_run()``, log the
    hyperparameters visible there (argparse namespace, config dataclass or dict, UPPER_CASE
    constants, optimizer settings), and log with ``step=`` the loop counter every loss/metric
    value each epoch loop computes (``x.item()`` accumulations, ``val_loss = evaluate(...)``,
    a ``loss`` tensor it back-propagates), plus the metrics computed after the training."""

    ACTION = "tracking.mlflow"
    FRAMEWORKS = ("pytorch",)
    DESCRIPTION = "Add MLflow experiment tracking to a PyTorch training loop"

    EXAMPLES = [
        Example(
            before='''\
import torch

LR = 0.1
EPOCHS = 5

model = torch.nn.Linear(3, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=LR)
x, y = torch.randn(32, 3), torch.randn(32, 1)
for epoch in range(EPOCHS):
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
torch.save(model.state_dict(), "model.pt")
''',
            after='''\
import torch
import mlflow

LR = 0.1
EPOCHS = 5

model = torch.nn.Linear(3, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=LR)
x, y = torch.randn(32, 3), torch.randn(32, 1)
with mlflow.start_run():
    mlflow.log_params({"lr": LR, "epochs": EPOCHS, "optimizer": "SGD"})
    for epoch in range(EPOCHS):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        mlflow.log_metric("loss", loss.item(), step=epoch)
        loss.backward()
        optimizer.step()
    torch.save(model.state_dict(), "model.pt")
''',
        ),
        Example(
            before='''\
import argparse

import torch
import torch.nn.functional as F


def train_epoch(model, loader, optimizer):
    total = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)


def evaluate(model, loader):
    with torch.no_grad():
        return sum(F.cross_entropy(model(x), y).item() for x, y in loader) / len(loader)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = [(torch.randn(8, 4), torch.randint(0, 2, (8,)))]
    for epoch in range(1, args.epochs + 1):
        train_loss = train_epoch(model, data, optimizer)
        val_loss = evaluate(model, data)
        print(f"epoch {epoch}: {train_loss:.3f} {val_loss:.3f}")


if __name__ == "__main__":
    main()
''',
            after='''\
import argparse

import torch
import torch.nn.functional as F
import mlflow


def train_epoch(model, loader, optimizer):
    total = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item()
    return total / len(loader)


def evaluate(model, loader):
    with torch.no_grad():
        return sum(F.cross_entropy(model(x), y).item() for x, y in loader) / len(loader)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    data = [(torch.randn(8, 4), torch.randint(0, 2, (8,)))]
    with mlflow.start_run():
        mlflow.log_params({**vars(args), "optimizer": "Adam", "lr": 1e-3})
        for epoch in range(1, args.epochs + 1):
            train_loss = train_epoch(model, data, optimizer)
            mlflow.log_metric("train_loss", train_loss, step=epoch)
            val_loss = evaluate(model, data)
            mlflow.log_metric("val_loss", val_loss, step=epoch)
            print(f"epoch {epoch}: {train_loss:.3f} {val_loss:.3f}")


if __name__ == "__main__":
    main()
''',
        ),
        Example(
            before='''\
import torch
import torch.nn.functional as F

EPOCHS = 2


def train(model, loader, optimizer, epoch):
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch}: last loss {loss.item():.4f}")


model = torch.nn.Linear(2, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
loader = [(torch.randn(4, 2), torch.randn(4, 1))]
for epoch in range(EPOCHS):
    train(model, loader, optimizer, epoch)
''',
            after='''\
import torch
import torch.nn.functional as F
import mlflow

EPOCHS = 2


def train(model, loader, optimizer, epoch):
    for x, y in loader:
        optimizer.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    mlflow.log_metric("loss", loss.item(), step=epoch)
    print(f"epoch {epoch}: last loss {loss.item():.4f}")


model = torch.nn.Linear(2, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
loader = [(torch.randn(4, 2), torch.randn(4, 1))]
with mlflow.start_run():
    mlflow.log_params({"epochs": EPOCHS, "optimizer": "SGD", "lr": 0.1})
    for epoch in range(EPOCHS):
        train(model, loader, optimizer, epoch)
''',
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import mlflow
import torch

model = torch.nn.Linear(2, 1)
for step in range(3):
    model(torch.randn(4, 2)).sum().backward()
''',
            reason="already uses MLflow",
        ),
        Decline(
            source='''\
import torch

model = torch.nn.Linear(2, 1)
print(model(torch.randn(4, 2)))
''',
            reason="no training loop found",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        imports = Imports.of(tree)
        if imports.uses("mlflow"):
            raise SkipFile("the script already uses MLflow")
        plan = plan_torch_tracking(tree, ModuleIndex.of(tree, imports))
        indent = "    " * 0
        after: dict[int, list[str]] = {}
        for log in [*plan.epoch_logs, *plan.final_logs]:
            after.setdefault(id(log.anchor), []).append(mlflow_metric_call(log))
        AddImportsVisitor.add_needed_import(self.context, "mlflow")
        if plan.hyperparameters.needs_dataclasses:
            AddImportsVisitor.add_needed_import(self.context, "dataclasses")
        return apply_edits(
            tree,
            after=after,
            region=plan.region,
            with_item="mlflow.start_run()",
            first=[f"mlflow.log_params({plan.hyperparameters.dict_expression(indent)})"],
        )
