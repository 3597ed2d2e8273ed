"""hpo.optuna for PyTorch Lightning scripts: an Optuna study over the hyperparameters the script fixes."""

from __future__ import annotations

import libcst as cst

from .. import ActionCodemod, Decline, Example
from ._engine import adapt
from ._examples import objective_and_study


class LightningOptunaHpo(ActionCodemod):
    """Lift the script's hyperparameters into ``objective(trial)``, run a short study on the metric it
    prints last, then run the training once more with ``study.best_params`` (see ``_engine``)."""

    ACTION = "hpo.optuna"
    FRAMEWORKS = ("lightning",)
    DESCRIPTION = "Add Optuna hyperparameter optimisation to a PyTorch Lightning script"

    EXAMPLES = [
        Example(
            before='''\
import argparse

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


class Regressor(L.LightningModule):
    def __init__(self, hidden_size, lr):
        super().__init__()
        self.lr = lr
        self.net = nn.Sequential(nn.Linear(4, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    x = torch.randn(128, 4)
    data = DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=32)
    model = Regressor(args.hidden_size, args.lr)
    trainer = L.Trainer(max_epochs=args.epochs, logger=False, enable_checkpointing=False)
    trainer.fit(model, data, data)
    print(f"final val loss: {float(trainer.callback_metrics['val_loss']):.4f}")


if __name__ == "__main__":
    main()
''',
            after='''\
import argparse

import lightning as L
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import optuna
import os

TUNED_PARAMS: dict = {}  # hyperparameters of the Optuna trial being run


def apply_tuned_params(settings):
    """``settings`` with the tuned hyperparameters it holds set from TUNED_PARAMS."""
    for name, value in TUNED_PARAMS.items():
        if hasattr(settings, name):
            setattr(settings, name, value)
    return settings


class Regressor(L.LightningModule):
    def __init__(self, hidden_size, lr):
        super().__init__()
        self.lr = lr
        self.net = nn.Sequential(nn.Linear(4, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--epochs", type=int, default=2)
    args = apply_tuned_params(parser.parse_args())
    x = torch.randn(128, 4)
    data = DataLoader(TensorDataset(x, x.sum(dim=1, keepdim=True)), batch_size=32)
    model = Regressor(args.hidden_size, args.lr)
    trainer = L.Trainer(max_epochs=args.epochs, logger=False, enable_checkpointing=False)
    trainer.fit(model, data, data)
    print(f"final val loss: {float(trainer.callback_metrics['val_loss']):.4f}")
    return float(trainer.callback_metrics['val_loss'])


def train_and_evaluate():
    """The script's run with the hyperparameters in TUNED_PARAMS; returns its final val loss."""
    return main()


''' + objective_and_study(
                {
                    "lr": 'trial.suggest_float("lr", 0.0001, 0.002, log=True)',
                    "hidden_size": 'trial.suggest_int("hidden_size", 16, 48, step=16)',
                },
                "minimize",
                main_guard=True,
            ),
        ),
        Example(
            before='''\
from dataclasses import dataclass

import lightning as L
import torch

from model import Classifier, make_loaders


@dataclass
class Config:
    lr: float = 3e-4
    dropout: float = 0.1
    max_epochs: int = 2


def run(config: Config) -> None:
    model = Classifier(lr=config.lr, dropout=config.dropout)
    train_loader, val_loader = make_loaders()
    trainer = L.Trainer(max_epochs=config.max_epochs, logger=False)
    trainer.fit(model, train_loader, val_loader)
    torch.save(model.state_dict(), "classifier.pt")
    print(f"val accuracy: {trainer.callback_metrics['val_acc']:.4f}")


if __name__ == "__main__":
    run(Config())
''',
            after='''\
from dataclasses import dataclass

import lightning as L
import torch

from model import Classifier, make_loaders
import dataclasses
import optuna
import os

TUNED_PARAMS: dict = {}  # hyperparameters of the Optuna trial being run


def apply_tuned_params(settings):
    """``settings`` with the tuned hyperparameters it holds set from TUNED_PARAMS."""
    if dataclasses.is_dataclass(settings):
        fields = {f.name for f in dataclasses.fields(settings)}
        return dataclasses.replace(settings, **{k: v for k, v in TUNED_PARAMS.items() if k in fields})
    return settings


@dataclass
class Config:
    lr: float = 3e-4
    dropout: float = 0.1
    max_epochs: int = 2


def run(config: Config) -> None:
    model = Classifier(lr=config.lr, dropout=config.dropout)
    train_loader, val_loader = make_loaders()
    trainer = L.Trainer(max_epochs=config.max_epochs, logger=False)
    trainer.fit(model, train_loader, val_loader)
    torch.save(model.state_dict(), "classifier.pt")
    print(f"val accuracy: {trainer.callback_metrics['val_acc']:.4f}")
    return trainer.callback_metrics['val_acc']


def train_and_evaluate():
    """The script's run with the hyperparameters in TUNED_PARAMS; returns its val accuracy."""
    return run(apply_tuned_params(Config()))


''' + objective_and_study(
                {
                    "lr": 'trial.suggest_float("lr", 3e-05, 0.0006, log=True)',
                    "dropout": 'trial.suggest_float("dropout", 0.05, 0.2)',
                },
                "maximize",
                main_guard=True,
            ),
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import lightning as L
from model import Net, loaders

trainer = L.Trainer(max_epochs=2)
trainer.fit(Net(), *loaders())
print(f"val loss: {trainer.callback_metrics['val_loss']:.3f}")
''',
            reason="no tunable hyperparameter",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        return adapt(tree, self.context, ('lightning', 'pytorch_lightning'), "PyTorch Lightning")
