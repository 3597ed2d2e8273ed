"""hpo.optuna for raw PyTorch scripts: an Optuna study over the hyperparameters the script fixes."""

from __future__ import annotations

import libcst as cst

from .. import ActionCodemod, Decline, Example
from ._engine import adapt
from ._examples import objective_and_study


class TorchOptunaHpo(ActionCodemod):
    """Lift the script's hyperparameters into ``objective(trial)``, run a short study on the metric it
    prints last, then run the training once more with ``study.best_params`` (see ``_engine``)."""

    ACTION = "hpo.optuna"
    FRAMEWORKS = ("pytorch",)
    DESCRIPTION = "Add Optuna hyperparameter optimisation to a raw PyTorch script"

    EXAMPLES = [
        Example(
            before='''\
import torch
from torch import nn

LR = 0.05
HIDDEN = 16
EPOCHS = 3

x = torch.randn(200, 2)
y = (x[:, 0] * x[:, 1] > 0).long()
model = nn.Sequential(nn.Linear(2, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2))
optimizer = torch.optim.SGD(model.parameters(), lr=LR)
for epoch in range(EPOCHS):
    optimizer.zero_grad()
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    optimizer.step()
accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
torch.save(model.state_dict(), "model.pt")
print(f"final accuracy: {accuracy:.3f}")
''',
            after='''\
import torch
from torch import nn
import optuna
import os

TUNED_PARAMS: dict = {}  # hyperparameters of the Optuna trial being run

LR = 0.05
HIDDEN = 16
EPOCHS = 3

x = torch.randn(200, 2)
y = (x[:, 0] * x[:, 1] > 0).long()


def train_and_evaluate():
    """The script's run with the hyperparameters in TUNED_PARAMS; returns its final accuracy."""
    global LR, HIDDEN, model, optimizer, epoch, loss, accuracy
    LR = TUNED_PARAMS.get("LR", LR)
    HIDDEN = TUNED_PARAMS.get("HIDDEN", HIDDEN)
    model = nn.Sequential(nn.Linear(2, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    for epoch in range(EPOCHS):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
    accuracy = (model(x).argmax(dim=1) == y).float().mean().item()
    torch.save(model.state_dict(), "model.pt")
    print(f"final accuracy: {accuracy:.3f}")
    return accuracy


''' + objective_and_study(
                {
                    "LR": 'trial.suggest_float("LR", 0.005, 0.1, log=True)',
                    "HIDDEN": 'trial.suggest_int("HIDDEN", 8, 24, step=8)',
                },
                "maximize",
                main_guard=False,
            ),
        ),
        Example(
            before='''\
import torch
from torch import nn

HIDDEN = 32
LR = 1e-2


class Net(nn.Module):
    def __init__(self, hidden=HIDDEN):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.layers(x)


def main():
    model = Net()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    for _ in range(3):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    torch.save(model.state_dict(), "net.pt")
    print(f"final loss: {loss.item():.4f}")


if __name__ == "__main__":
    main()
''',
            after='''\
import torch
from torch import nn
import optuna
import os

TUNED_PARAMS: dict = {}  # hyperparameters of the Optuna trial being run

HIDDEN = 32
LR = 1e-2


class Net(nn.Module):
    def __init__(self, hidden=HIDDEN):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x):
        return self.layers(x)


def main():
    model = Net(hidden=HIDDEN)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    for _ in range(3):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    torch.save(model.state_dict(), "net.pt")
    print(f"final loss: {loss.item():.4f}")
    return loss.item()


def train_and_evaluate():
    """The script's run with the hyperparameters in TUNED_PARAMS; returns its final loss."""
    global HIDDEN, LR
    HIDDEN = TUNED_PARAMS.get("HIDDEN", HIDDEN)
    LR = TUNED_PARAMS.get("LR", LR)
    return main()


''' + objective_and_study(
                {
                    "LR": 'trial.suggest_float("LR", 0.001, 0.02, log=True)',
                    "HIDDEN": 'trial.suggest_int("HIDDEN", 16, 48, step=16)',
                },
                "minimize",
                main_guard=True,
            ),
        ),
        Example(
            before='''\
import torch
from torch import nn


def train(lr, hidden):
    model = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr)
    x = torch.randn(32, 4)
    for _ in range(2):
        optimizer.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        optimizer.step()
    return loss.item()


if __name__ == "__main__":
    lr = 0.05
    hidden = 8
    loss = train(lr, hidden)
    print(f"final loss: {loss:.4f}")
''',
            after='''\
import torch
from torch import nn
import optuna
import os

TUNED_PARAMS: dict = {}  # hyperparameters of the Optuna trial being run


def train(lr, hidden):
    model = nn.Sequential(nn.Linear(4, hidden), nn.Tanh(), nn.Linear(hidden, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr)
    x = torch.randn(32, 4)
    for _ in range(2):
        optimizer.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        optimizer.step()
    return loss.item()


def train_and_evaluate():
    """The script's run with the hyperparameters in TUNED_PARAMS; returns its final loss."""
    global lr, hidden, loss
    lr = TUNED_PARAMS.get("lr", 0.05)
    hidden = TUNED_PARAMS.get("hidden", 8)
    loss = train(lr, hidden)
    print(f"final loss: {loss:.4f}")
    return loss


''' + objective_and_study(
                {
                    "lr": 'trial.suggest_float("lr", 0.005, 0.1, log=True)',
                    "hidden": 'trial.suggest_int("hidden", 4, 12, step=4)',
                },
                "minimize",
                main_guard=True,
            ),
        ),
        Example(
            before='''\
import torch
from torch import nn

model = nn.Linear(4, 1)
optimizer = torch.optim.Adam(model.parameters(), 1e-3)
x = torch.randn(32, 4)
for _ in range(2):
    optimizer.zero_grad()
    loss = model(x).pow(2).mean()
    loss.backward()
    optimizer.step()
print(f"final loss: {loss.item():.4f}")
''',
            after='''\
import torch
from torch import nn
import optuna
import os

TUNED_PARAMS: dict = {}  # hyperparameters of the Optuna trial being run


def train_and_evaluate():
    """The script's run with the hyperparameters in TUNED_PARAMS; returns its final loss."""
    global model, optimizer, x, _, loss
    model = nn.Linear(4, 1)
    optimizer = torch.optim.Adam(model.parameters(), TUNED_PARAMS.get("lr", 1e-3))
    x = torch.randn(32, 4)
    for _ in range(2):
        optimizer.zero_grad()
        loss = model(x).pow(2).mean()
        loss.backward()
        optimizer.step()
    print(f"final loss: {loss.item():.4f}")
    return loss.item()


''' + objective_and_study(
                {"lr": 'trial.suggest_float("lr", 0.0001, 0.002, log=True)'},
                "minimize",
                main_guard=False,
            ),
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import sys

import torch


def main():
    model = torch.nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = model(torch.randn(8, 4)).pow(2).mean()
    loss.backward()
    optimizer.step()
    print(f"loss: {loss.item():.3f}")


if __name__ == "__main__":
    sys.exit(main())
''',
            reason="no final printed metric",
        ),
        Decline(
            source='''\
import torch

model = torch.nn.Linear(4, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
for step in range(3):
    optimizer.zero_grad()
    model(torch.randn(8, 4)).pow(2).mean().backward()
    optimizer.step()
torch.save(model.state_dict(), "model.pt")
print("done")
''',
            reason="no metric whose direction is known",
        ),
        Decline(
            source='''\
import torch

model = torch.nn.Linear(4, 1)


def main():
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = model(torch.randn(8, 4)).pow(2).mean()
    loss.backward()
    optimizer.step()
    print(f"loss: {loss.item():.3f}")


if __name__ == "__main__":
    main()
''',
            reason="built once when the module loads",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        return adapt(tree, self.context, ('torch',), "raw PyTorch")
