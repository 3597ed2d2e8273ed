"""tracking.mlflow for PyTorch Lightning: ``mlflow.pytorch.autolog`` inside an explicit run
around ``trainer.fit``.

Autolog hooks ``Trainer.fit`` itself, so it tracks whatever the Trainer's ``logger`` is (also
``logger=False``): the optimizer's settings and the epoch count as params, every ``self.log``'d
value at the end of each epoch as metrics (step = epoch). It uses the active MLflow tracking URI
(``MLFLOW_TRACKING_URI``). The script's own hyperparameters (argparse namespace, config dataclass
or dict, constants) are logged as params, and the metrics it computes after fitting as metrics.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports, region_of
from .._tracking import HyperparameterFinder, ModuleIndex, apply_edits, final_metric_logs, lightning_fit_calls
from .tracking_torch import mlflow_metric_call


class LightningMlflowTracking(ActionCodemod):
    """Wrap the code from the first ``trainer.fit(...)`` to the end of its scope in an MLflow run
    with ``mlflow.pytorch.autolog(log_models=False)`` (model registration is its own action)."""

    ACTION = "tracking.mlflow"
    FRAMEWORKS = ("lightning",)
    DESCRIPTION = "Add MLflow experiment tracking to a PyTorch Lightning script"

    EXAMPLES = [
        Example(
            before='''\
import lightning as L

from model import LitModel, loaders

MAX_EPOCHS = 3


def main():
    train_loader, val_loader = loaders()
    trainer = L.Trainer(max_epochs=MAX_EPOCHS, logger=False)
    trainer.fit(LitModel(), train_loader, val_loader)
    val_loss = float(trainer.callback_metrics["val_loss"])
    print(f"final val loss: {val_loss:.4f}")


if __name__ == "__main__":
    main()
''',
            after='''\
import lightning as L

from model import LitModel, loaders
import mlflow

MAX_EPOCHS = 3


def main():
    train_loader, val_loader = loaders()
    trainer = L.Trainer(max_epochs=MAX_EPOCHS, logger=False)
    mlflow.pytorch.autolog(log_models=False)
    with mlflow.start_run():
        mlflow.log_params({"max_epochs": MAX_EPOCHS})
        trainer.fit(LitModel(), train_loader, val_loader)
        val_loss = float(trainer.callback_metrics["val_loss"])
        mlflow.log_metric("val_loss", val_loss)
        print(f"final val loss: {val_loss:.4f}")


if __name__ == "__main__":
    main()
''',
        ),
        Example(
            before='''\
import argparse

import pytorch_lightning as pl

from model import LitModel

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=2)
args = parser.parse_args()
trainer = pl.Trainer(max_epochs=args.epochs)
trainer.fit(LitModel())
''',
            after='''\
import argparse

import pytorch_lightning as pl

from model import LitModel
import mlflow

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=2)
args = parser.parse_args()
trainer = pl.Trainer(max_epochs=args.epochs)
mlflow.pytorch.autolog(log_models=False)
with mlflow.start_run():
    mlflow.log_params(vars(args))
    trainer.fit(LitModel())
''',
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import lightning as L
import mlflow

from model import LitModel

mlflow.pytorch.autolog()
L.Trainer(max_epochs=2).fit(LitModel())
''',
            reason="already uses MLflow",
        ),
        Decline(
            source='''\
import lightning as L

from model import LitModel

print(L.Trainer(max_epochs=2), LitModel)
''',
            reason="no trainer.fit",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        imports = Imports.of(tree)
        if imports.uses("mlflow"):
            raise SkipFile("the script already uses MLflow")
        fits = lightning_fit_calls(tree, imports)
        if not fits:
            raise SkipFile("no trainer.fit(...) call of a Lightning Trainer found")
        region = region_of(fits[0])
        hyperparameters = HyperparameterFinder(ModuleIndex.of(tree, imports)).find(region, optimizer=False)  # autolog logs it
        first = [f"mlflow.log_params({hyperparameters.dict_expression()})"] if hyperparameters else []
        after: dict[int, list[str]] = {}
        for log in final_metric_logs(tree, region):
            after.setdefault(id(log.anchor), []).append(mlflow_metric_call(log))
        AddImportsVisitor.add_needed_import(self.context, "mlflow")
        if hyperparameters.needs_dataclasses:
            AddImportsVisitor.add_needed_import(self.context, "dataclasses")
        return apply_edits(
            tree,
            after=after,
            region=region,
            before=["mlflow.pytorch.autolog(log_models=False)"],
            with_item="mlflow.start_run()",
            first=first,
        )
