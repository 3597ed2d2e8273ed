"""tracking.wandb for PyTorch Lightning: a ``WandbLogger`` on the Trainer (in place of
``logger=False``), inside a ``wandb.init`` run around ``trainer.fit`` carrying the config.

The logger attaches to the run already in progress, so every ``self.log``'d value lands in that
run's history and the run finishes when the ``with`` block ends; the module's
``save_hyperparameters()`` reach the config through the logger as well.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports, region_of
from .._tracking import (
    HyperparameterFinder,
    ModuleIndex,
    add_keyword,
    apply_edits,
    final_metric_logs,
    lightning_fit_calls,
    lightning_trainer_calls,
    project_name,
    uses_save_hyperparameters,
)
from .tracking_torch import wandb_log_call


def _with_logger(trainer: cst.Call, logger: cst.BaseExpression) -> cst.Call:
    """Set ``logger=`` on a Trainer call: replace False/True/None, extend a list, or pair it."""
    args = list(trainer.args)
    for position, arg in enumerate(args):
        if arg.keyword and arg.keyword.value == "logger":
            value = arg.value
            if isinstance(value, cst.Name) and value.value in ("False", "True", "None"):
                new_value: cst.BaseExpression = logger
            elif isinstance(value, cst.List):
                new_value = value.with_changes(elements=[*value.elements, cst.Element(logger)])
            else:
                new_value = cst.List([cst.Element(value), cst.Element(logger)])
            args[position] = arg.with_changes(value=new_value)
            return trainer.with_changes(args=args)
    if any(arg.star == "**" for arg in args):
        raise SkipFile("the Trainer is built from **kwargs; cannot tell whether it has a logger")
    return add_keyword(trainer, "logger", logger)


class LightningWandbTracking(ActionCodemod):
    """Pass ``WandbLogger()`` to every Lightning Trainer and wrap the code from the first
    ``trainer.fit(...)`` to the end of its scope in ``with wandb.init(project=..., config=...):``."""

    ACTION = "tracking.wandb"
    FRAMEWORKS = ("lightning",)
    DESCRIPTION = "Add Weights & Biases tracking to a PyTorch Lightning script"

    EXAMPLES = [
        Example(
            before='''\
import lightning as L

from model import LitModel

MAX_EPOCHS = 3


def main():
    trainer = L.Trainer(max_epochs=MAX_EPOCHS, logger=False)
    trainer.fit(LitModel())
    val_loss = float(trainer.callback_metrics["val_loss"])
    print(f"final val loss: {val_loss:.4f}")


if __name__ == "__main__":
    main()
''',
            after='''\
import lightning as L

from model import LitModel
import wandb
from lightning.pytorch.loggers import WandbLogger

MAX_EPOCHS = 3


def main():
    trainer = L.Trainer(max_epochs=MAX_EPOCHS, logger=WandbLogger())
    with wandb.init(project="training", config={"max_epochs": MAX_EPOCHS}):
        trainer.fit(LitModel())
        val_loss = float(trainer.callback_metrics["val_loss"])
        wandb.log({"val_loss": val_loss})
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


def build_trainer(args):
    return pl.Trainer(max_epochs=args.epochs)


parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=2)
args = parser.parse_args()
trainer = build_trainer(args)
trainer.fit(LitModel())
''',
            after='''\
import argparse

import pytorch_lightning as pl

from model import LitModel
import wandb
from pytorch_lightning.loggers import WandbLogger


def build_trainer(args):
    return pl.Trainer(max_epochs=args.epochs, logger=WandbLogger())


parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=2)
args = parser.parse_args()
trainer = build_trainer(args)
with wandb.init(project="training", config=vars(args)):
    trainer.fit(LitModel())
''',
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import lightning as L
from lightning.pytorch.loggers import WandbLogger

from model import LitModel

L.Trainer(max_epochs=2, logger=WandbLogger()).fit(LitModel())
''',
            reason="already uses W&B",
        ),
        Decline(
            source='''\
import lightning as L

from model import LitModel

trainer = L.Trainer(max_epochs=2)
trainer.fit(LitModel())
''',
            reason="no hyperparameters",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        imports = Imports.of(tree)
        if imports.uses("wandb") or any(q.endswith("WandbLogger") for q in imports.names.values()):
            raise SkipFile("the script already uses W&B (wandb)")
        fits = lightning_fit_calls(tree, imports)
        trainers = lightning_trainer_calls(tree, imports)
        if not fits or not trainers:
            raise SkipFile("no Lightning Trainer(...) with a trainer.fit(...) call found")
        region = region_of(fits[0])
        hyperparameters = HyperparameterFinder(ModuleIndex.of(tree, imports)).find(region)
        if not hyperparameters and not uses_save_hyperparameters(tree):
            raise SkipFile("no hyperparameters found for the W&B config (no argparse, config, constants or save_hyperparameters)")
        package = "pytorch_lightning" if any(
            (imports.qualified(site.call.func) or "").startswith("pytorch_lightning") for site in trainers
        ) else "lightning.pytorch"
        logger = cst.parse_expression("WandbLogger()")
        replace = {id(site.call): _with_logger(site.call, logger) for site in trainers}
        after: dict[int, list[str]] = {}
        for log in final_metric_logs(tree, region):
            after.setdefault(id(log.anchor), []).append(wandb_log_call(log))
        AddImportsVisitor.add_needed_import(self.context, "wandb")
        AddImportsVisitor.add_needed_import(self.context, f"{package}.loggers", "WandbLogger")
        if hyperparameters.needs_dataclasses:
            AddImportsVisitor.add_needed_import(self.context, "dataclasses")
        project = project_name(tree, self.context.filename)
        config = f", config={hyperparameters.dict_expression()}" if hyperparameters else ""
        return apply_edits(
            tree, after=after, region=region, with_item=f'wandb.init(project="{project}"{config})', replace=replace
        )
