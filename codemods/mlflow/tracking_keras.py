"""tracking.mlflow for Keras 3: ``mlflow.keras.autolog`` inside an explicit run around ``fit``.

Autolog logs the fit settings and optimizer configuration as params and every epoch's losses
and metrics (``logs``) as metrics with step = epoch; the script's own hyperparameters (argparse,
config, constants) are logged explicitly. Scripts that train with ``train_on_batch`` loops are
tracked like raw PyTorch loops: the metrics their epoch loops compute, with the loop counter.
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
    add_fit_settings,
    apply_edits,
    final_metric_logs,
    keras_fit_calls,
    plan_torch_tracking,
)
from .tracking_torch import mlflow_metric_call


class KerasMlflowTracking(ActionCodemod):
    """Wrap the code from the first ``model.fit(...)`` to the end of its scope in an MLflow run
    with ``mlflow.keras.autolog(log_models=False)`` (registration is its own action)."""

    ACTION = "tracking.mlflow"
    FRAMEWORKS = ("keras",)
    DESCRIPTION = "Add MLflow experiment tracking to a Keras 3 script"

    EXAMPLES = [
        Example(
            before='''\
import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

learning_rate = 1e-3
x, y = np.random.rand(64, 4), np.random.rand(64, 1)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
history = model.fit(x, y, epochs=3, verbose=0)
loss = model.evaluate(x, y, verbose=0)
print(f"final loss: {loss:.4f}")
''',
            after='''\
import os
import mlflow

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

learning_rate = 1e-3
x, y = np.random.rand(64, 4), np.random.rand(64, 1)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
mlflow.keras.autolog(log_models=False)
with mlflow.start_run():
    mlflow.log_params({"learning_rate": learning_rate, "epochs": 3})
    history = model.fit(x, y, epochs=3, verbose=0)
    loss = model.evaluate(x, y, verbose=0)
    print(f"final loss: {loss:.4f}")
''',
        ),
        Example(
            before='''\
import argparse

import keras


def train(args, model, x, y):
    model.fit(x, y, epochs=args.epochs, batch_size=32)
    return model
''',
            after='''\
import argparse

import keras
import mlflow


def train(args, model, x, y):
    mlflow.keras.autolog(log_models=False)
    with mlflow.start_run():
        mlflow.log_params({"epochs": args.epochs, "batch_size": 32})
        model.fit(x, y, epochs=args.epochs, batch_size=32)
        return model
''',
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import keras
import mlflow

mlflow.keras.autolog()
keras.Sequential([keras.layers.Dense(1)]).fit([[0.0]], [[1.0]], epochs=2)
''',
            reason="already uses MLflow",
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
        if imports.uses("mlflow"):
            raise SkipFile("the script already uses MLflow")
        index = ModuleIndex.of(tree, imports)
        fits = keras_fit_calls(tree)
        if not fits:
            return self._train_on_batch_loops(tree, index)
        region = region_of(fits[0])
        hyperparameters = HyperparameterFinder(index).find(region, optimizer=False)  # autolog logs it
        add_fit_settings(hyperparameters, fits[0].call)
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
            before=["mlflow.keras.autolog(log_models=False)"],
            with_item="mlflow.start_run()",
            first=first,
        )

    def _train_on_batch_loops(self, tree: cst.Module, index: ModuleIndex) -> cst.Module:
        try:
            plan = plan_torch_tracking(tree, index)
        except SkipFile as exc:
            raise SkipFile(f"no model.fit(...) call, and no train_on_batch loop to track: {exc}") from None
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
            first=[f"mlflow.log_params({plan.hyperparameters.dict_expression()})"],
        )
