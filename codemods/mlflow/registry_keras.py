"""registry.mlflow for Keras 3: log the model fitted last with ``mlflow.keras.log_model`` and register it.

``mlflow.keras.log_model(..., input_example=...)`` fails in MLflow 3.x (mlflow/mlflow#16183: the
example is written before the model directory exists), so the first rows of the training inputs
give the signature through ``infer_signature`` instead.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports, find_calls, region_of
from ._registry import (
    Trained,
    constructor_class,
    dotted_receiver,
    first_argument,
    insert_after,
    is_returned,
    last_site,
    lift_parameter_model,
    lift_to_caller,
    method_named,
    registered_name,
    source_of,
)

# Keras' own model classes say nothing about the model: the variable name is used instead.
_GENERIC_KERAS_CLASSES = {"Sequential", "Model", "Functional"}


def registration(trained: Trained) -> str:
    model_class = None if trained.model_class in _GENERIC_KERAS_CLASSES else trained.model_class
    name = registered_name(trained.model, model_class)
    if name in ("model", "self"):
        name = "keras-model"
    example = f"{trained.inputs}[:5]"
    return (
        "with mlflow.start_run():\n"
        "    mlflow.keras.log_model(\n"
        f"        {trained.model},\n"
        '        name="model",\n'
        f"        signature=infer_signature({example}, {trained.model}.predict({example}, verbose=0)),\n"
        f'        registered_model_name="{name}",\n'
        "    )\n"
    )


class KerasMlflowRegistry(ActionCodemod):
    """After the last ``model.fit(x, ...)``, log the model with ``mlflow.keras.log_model`` in a run
    and register it, with a signature inferred from the first rows of ``x``."""

    ACTION = "registry.mlflow"
    FRAMEWORKS = ("keras",)
    DESCRIPTION = "Register the trained Keras model in the MLflow Model Registry"

    EXAMPLES = [
        Example(
            before='''\
import numpy as np
import keras

x_train = np.random.rand(64, 4).astype("float32")
y_train = x_train.sum(axis=1)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x_train, y_train, epochs=2, verbose=0)
model.save("model.keras")
''',
            after='''\
import numpy as np
import keras
import mlflow
from mlflow.models import infer_signature

x_train = np.random.rand(64, 4).astype("float32")
y_train = x_train.sum(axis=1)
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x_train, y_train, epochs=2, verbose=0)

# Register the trained model in the MLflow Model Registry.
with mlflow.start_run():
    mlflow.keras.log_model(
        model,
        name="model",
        signature=infer_signature(x_train[:5], model.predict(x_train[:5], verbose=0)),
        registered_model_name="keras-model",
    )
model.save("model.keras")
''',
        ),
        Example(
            before='''\
import keras


def train(autoencoder: keras.Model, images):
    history = autoencoder.fit(x=images, y=images, epochs=3)
    return history.history["loss"][-1]
''',
            after='''\
import keras
import mlflow
from mlflow.models import infer_signature


def train(autoencoder: keras.Model, images):
    history = autoencoder.fit(x=images, y=images, epochs=3)

    # Register the trained model in the MLflow Model Registry.
    with mlflow.start_run():
        mlflow.keras.log_model(
            autoencoder,
            name="model",
            signature=infer_signature(images[:5], autoencoder.predict(images[:5], verbose=0)),
            registered_model_name="autoencoder",
        )
    return history.history["loss"][-1]
''',
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import keras
import mlflow

mlflow.keras.autolog()
''',
            reason="already uses MLflow",
        ),
        Decline(
            source='''\
import keras

model = keras.Sequential([keras.layers.Dense(1)])
for x, y in batches():
    model.train_on_batch(x, y)
''',
            reason="no model .fit",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        if Imports.of(tree).uses("mlflow"):
            raise SkipFile("the script already uses MLflow")
        # ``self.fit(...)``/``trainer.fit()`` are a script's own training helpers, not Keras' fit
        fits = [
            s
            for s in find_calls(tree, method_named("fit"))
            if dotted_receiver(s.call) not in ("self", "cls") and first_argument(s.call, "x") is not None
        ]
        site = last_site(fits, "model .fit(...) call")
        inputs = first_argument(site.call, "x")
        if inputs is None:
            raise SkipFile("the last .fit(...) call has no training inputs argument")
        if is_returned(site):
            # Keras' fit returns a History: the model is the receiver, seen from the caller
            trained = lift_to_caller(tree, site, inputs, model=site.call.func.value)
        elif (lifted := lift_parameter_model(tree, site, inputs)) is not None:
            trained = lifted
        else:
            model = dotted_receiver(site.call)
            if model is None:
                raise SkipFile("the fitted model is not bound to a name")
            trained = Trained(model=model, inputs=source_of(inputs), region=region_of(site))
        if isinstance(inputs, (cst.Call, cst.GeneratorExp)):
            raise SkipFile("the model is fitted on a generator or dataset, not arrays that can be sliced")
        trained = Trained(trained.model, trained.inputs, trained.region, constructor_class(tree, trained.model))
        AddImportsVisitor.add_needed_import(self.context, "mlflow")
        AddImportsVisitor.add_needed_import(self.context, "mlflow.models", "infer_signature")
        return insert_after(tree, trained.region, registration(trained), "Register the trained model in the MLflow Model Registry.")
