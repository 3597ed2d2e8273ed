"""tracking.wandb for Keras 3 without ``wandb.integration.keras`` (it needs TensorFlow): a small
``keras.callbacks.Callback`` added to the script logs every epoch's ``logs`` with ``wandb.log``,
passed to each ``fit`` inside a ``wandb.init`` run carrying the hyperparameters as config.
Scripts that train with ``train_on_batch`` loops are tracked like raw PyTorch loops."""

from __future__ import annotations

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports, region_of
from .._tracking import (
    HyperparameterFinder,
    ModuleIndex,
    add_fit_settings,
    apply_edits,
    final_metric_logs,
    keras_fit_calls,
    keras_name,
    last_import,
    plan_torch_tracking,
    project_name,
    with_list_item,
)
from .tracking_torch import wandb_log_call

CALLBACK = "WandbEpochLogger"

_CALLBACK_CLASS = '''\
class {name}({keras}.callbacks.Callback):
    """Log the losses and metrics Keras computes at the end of every epoch to W&B."""

    def on_epoch_end(self, epoch, logs=None):
        wandb.log({{**(logs or {{}}), "epoch": epoch}})
'''


class KerasWandbTracking(ActionCodemod):
    """Add the ``WandbEpochLogger`` callback class after the imports, append it to the
    ``callbacks=`` of every ``model.fit(...)``, and wrap the code from the first fit to the end
    of its scope in ``with wandb.init(project=..., config=...):``."""

    ACTION = "tracking.wandb"
    FRAMEWORKS = ("keras",)
    DESCRIPTION = "Add Weights & Biases tracking to a Keras 3 script"

    EXAMPLES = [
        Example(
            before='''\
import keras
import numpy as np

BATCH_SIZE = 16

x, y = np.random.rand(64, 4), np.random.rand(64, 1)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, batch_size=BATCH_SIZE, epochs=3, verbose=0)
model.save("model.keras")
''',
            after='''\
import keras
import numpy as np
import wandb


class WandbEpochLogger(keras.callbacks.Callback):
    """Log the losses and metrics Keras computes at the end of every epoch to W&B."""

    def on_epoch_end(self, epoch, logs=None):
        wandb.log({**(logs or {}), "epoch": epoch})

BATCH_SIZE = 16

x, y = np.random.rand(64, 4), np.random.rand(64, 1)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
with wandb.init(project="training", config={"batch_size": BATCH_SIZE, "epochs": 3}):
    model.fit(x, y, batch_size=BATCH_SIZE, epochs=3, verbose=0, callbacks=[WandbEpochLogger()])
    model.save("model.keras")
''',
        ),
        Example(
            before='''\
import argparse

import keras


def train(args, model, x, y, stop):
    model.fit(x, y, epochs=args.epochs, callbacks=[stop])
''',
            after='''\
import argparse

import keras
import wandb


class WandbEpochLogger(keras.callbacks.Callback):
    """Log the losses and metrics Keras computes at the end of every epoch to W&B."""

    def on_epoch_end(self, epoch, logs=None):
        wandb.log({**(logs or {}), "epoch": epoch})


def train(args, model, x, y, stop):
    with wandb.init(project="training", config={"epochs": args.epochs}):
        model.fit(x, y, epochs=args.epochs, callbacks=[stop, WandbEpochLogger()])
''',
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import keras
import wandb

wandb.init(project="p")
keras.Sequential([keras.layers.Dense(1)]).fit([[0.0]], [[1.0]], epochs=2)
''',
            reason="already uses W&B",
        ),
        Decline(
            source='''\
import keras

model = keras.Sequential([keras.layers.Dense(1)])
print(model.predict([[0.0]]))
''',
            reason="no model.fit",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        imports = Imports.of(tree)
        if imports.uses("wandb"):
            raise SkipFile("the script already uses W&B (wandb)")
        index = ModuleIndex.of(tree, imports)
        project = project_name(tree, self.context.filename)
        fits = keras_fit_calls(tree)
        if not fits:
            return self._train_on_batch_loops(tree, index, project)
        if CALLBACK in index.classes or CALLBACK in index.functions:
            raise SkipFile(f"the script already defines {CALLBACK}")
        region = region_of(fits[0])
        hyperparameters = HyperparameterFinder(index).find(region)
        add_fit_settings(hyperparameters, fits[0].call)
        keras = keras_name(imports)
        if keras is None:
            keras = "keras"
            AddImportsVisitor.add_needed_import(self.context, "keras")
        anchor = last_import(tree)
        if anchor is None:
            raise SkipFile("no imports at module level to place the W&B callback after")
        callback = cst.parse_statement(_CALLBACK_CLASS.format(name=CALLBACK, keras=keras))
        callback = callback.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
        after: dict[int, list] = {id(anchor): [callback]}
        for log in final_metric_logs(tree, region):
            after.setdefault(id(log.anchor), []).append(wandb_log_call(log))
        replace = {id(site.call): with_list_item(site.call, "callbacks", cst.parse_expression(f"{CALLBACK}()")) for site in fits}
        AddImportsVisitor.add_needed_import(self.context, "wandb")
        if hyperparameters.needs_dataclasses:
            AddImportsVisitor.add_needed_import(self.context, "dataclasses")
        config = f", config={hyperparameters.dict_expression()}" if hyperparameters else ""
        return apply_edits(
            tree, after=after, region=region, with_item=f'wandb.init(project="{project}"{config})', replace=replace
        )

    def _train_on_batch_loops(self, tree: cst.Module, index: ModuleIndex, project: str) -> cst.Module:
        try:
            plan = plan_torch_tracking(tree, index)
        except SkipFile as exc:
            raise SkipFile(f"no model.fit(...) call, and no train_on_batch loop to track: {exc}") from None
        after: dict[int, list] = {}
        for log in [*plan.epoch_logs, *plan.final_logs]:
            after.setdefault(id(log.anchor), []).append(wandb_log_call(log))
        AddImportsVisitor.add_needed_import(self.context, "wandb")
        if plan.hyperparameters.needs_dataclasses:
            AddImportsVisitor.add_needed_import(self.context, "dataclasses")
        config = plan.hyperparameters.dict_expression()
        return apply_edits(tree, after=after, region=plan.region, with_item=f'wandb.init(project="{project}", config={config})')
