"""registry.mlflow for Keras 3: log the model fitted last with ``mlflow.keras.log_model`` and register it.

``mlflow.keras.log_model(..., input_example=...)`` fails in MLflow 3.x (mlflow/mlflow#16183: the
example is written before the model directory exists), so the first rows of the training inputs
give the signature through ``infer_signature`` instead.

A model trained step by step with ``train_on_batch`` (a DQN agent's Q-network, a GAN) has no
training array in scope once training ends: it is registered where the script saves it, with a
signature from a zero batch of its declared input shape.
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
    dotted,
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


_WRAPPER = "KerasModelWithCustomLayers"


def custom_keras_classes(tree: cst.Module) -> list[cst.ClassDef]:
    """Module-level classes built on Keras layers or models (directly or on each other)."""
    imports = Imports.of(tree)
    found: list[cst.ClassDef] = []
    names: set[str] = set()
    for statement in tree.body:
        if not isinstance(statement, cst.ClassDef):
            continue
        bases = [imports.qualified(base.value) or dotted(base.value) or "" for base in statement.bases]
        if any(base.startswith("keras.") or base in names for base in bases):
            found.append(statement)
            names.add(statement.name.value)
    return found


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
        Example(
            before='''\
import keras
import numpy as np


class Agent:
    def __init__(self):
        self.q_network = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        self.q_network.compile(optimizer="adam", loss="mse")

    def replay(self, states, targets):
        return float(self.q_network.train_on_batch(states, targets))


agent = Agent()
for step in range(3):
    agent.replay(np.random.rand(8, 4), np.random.rand(8, 2))
agent.q_network.save("q_network.keras")
''',
            after='''\
import keras
import numpy as np
import mlflow
from mlflow.models import infer_signature


class Agent:
    def __init__(self):
        self.q_network = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        self.q_network.compile(optimizer="adam", loss="mse")

    def replay(self, states, targets):
        return float(self.q_network.train_on_batch(states, targets))


agent = Agent()
for step in range(3):
    agent.replay(np.random.rand(8, 4), np.random.rand(8, 2))
agent.q_network.save("q_network.keras")

# Register the trained model in the MLflow Model Registry.
example_shape = agent.q_network.get_build_config()["input_shape"]  # subclassed models have it too
# trained batch by batch, so no training array is in scope: a zero batch of its input shape
example_inputs = np.zeros((1, *example_shape[1:]), dtype="float32")
with mlflow.start_run():
    mlflow.keras.log_model(
        agent.q_network,
        name="model",
        signature=infer_signature(example_inputs[:5], agent.q_network.predict(example_inputs[:5], verbose=0)),
        registered_model_name="q-network",
    )
''',
        ),
        Example(
            before='''\
import numpy as np
import keras


class Scale(keras.layers.Layer):
    def call(self, x):
        return 2.0 * x


x_train = np.random.rand(64, 4).astype("float32")
y_train = x_train.sum(axis=1)
model = keras.Sequential([keras.Input((4,)), Scale(), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x_train, y_train, epochs=2, verbose=0)
''',
            after='''\
import numpy as np
import keras
import mlflow
import mlflow.pyfunc
import os
import tempfile
from mlflow.models import infer_signature


class Scale(keras.layers.Layer):
    def call(self, x):
        return 2.0 * x


class KerasModelWithCustomLayers(mlflow.pyfunc.PythonModel):
    """pyfunc flavour of the Keras model: loads the .keras file with the layers this script defines."""

    # mlflow.keras cannot pass custom objects to Keras; cloudpickle saves these classes with the wrapper
    def __init__(self):
        # named as the .keras config names them (package>Name when registered, else Name), here,
        # where the registrations of this script are known
        self.custom_objects = {keras.saving.get_registered_name(cls): cls for cls in (Scale,)}

    def load_context(self, context):
        self.model = keras.saving.load_model(context.artifacts["keras_model"], custom_objects=self.custom_objects)

    def predict(self, context, model_input, params=None):
        return keras.ops.convert_to_numpy(self.model.predict(np.asarray(model_input), verbose=0))


x_train = np.random.rand(64, 4).astype("float32")
y_train = x_train.sum(axis=1)
model = keras.Sequential([keras.Input((4,)), Scale(), keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x_train, y_train, epochs=2, verbose=0)

# Register the trained model in the MLflow Model Registry.
keras_model_path = os.path.join(tempfile.mkdtemp(), "model.keras")
model.save(keras_model_path)
with mlflow.start_run():
    mlflow.pyfunc.log_model(
        name="model",
        python_model=KerasModelWithCustomLayers(),
        artifacts={"keras_model": keras_model_path},
        # an explicit signature and requirements: inferring them would load the model again
        signature=infer_signature(x_train[:5], model.predict(x_train[:5], verbose=0)),
        pip_requirements=[f"keras=={keras.__version__}", "torch", "numpy"],
        registered_model_name="keras-model",
    )
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
            reason="never saved",
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
        if not fits:
            return self._register_saved_batch_model(tree)
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
        custom = custom_keras_classes(tree)
        if custom:
            return self._register_with_custom_objects(tree, trained, custom)
        return insert_after(tree, trained.region, registration(trained), "Register the trained model in the MLflow Model Registry.")

    def _register_with_custom_objects(self, tree: cst.Module, trained: Trained, custom: list[cst.ClassDef]) -> cst.Module:
        """The script defines its own layers or models: ``mlflow.keras``'s loader cannot pass them
        to Keras, so the model is logged as a pyfunc that loads the ``.keras`` file with them."""
        imports = Imports.of(tree)
        keras_name = next((local for local, name in imports.names.items() if name == "keras"), None)
        if keras_name is None:
            raise SkipFile("the custom Keras layers are not built on `import keras` (Keras 3)")
        numpy = next((local for local, name in imports.names.items() if name == "numpy"), None)
        if numpy is None:
            AddImportsVisitor.add_needed_import(self.context, "numpy")
            numpy = "numpy"
        for module in ("mlflow.pyfunc", "os", "tempfile"):
            AddImportsVisitor.add_needed_import(self.context, module)
        names = ", ".join(c.name.value for c in custom) + ("," if len(custom) == 1 else "")
        wrapper = (
            f"class {_WRAPPER}(mlflow.pyfunc.PythonModel):\n"
            '    """pyfunc flavour of the Keras model: loads the .keras file with the layers this script defines."""\n'
            "\n"
            "    # mlflow.keras cannot pass custom objects to Keras; cloudpickle saves these classes with the wrapper\n"
            "    def __init__(self):\n"
            "        # named as the .keras config names them (package>Name when registered, else Name), here,\n"
            "        # where the registrations of this script are known\n"
            f"        self.custom_objects = {{{keras_name}.saving.get_registered_name(cls): cls for cls in ({names})}}\n"
            "\n"
            "    def load_context(self, context):\n"
            f'        self.model = {keras_name}.saving.load_model(context.artifacts["keras_model"], custom_objects=self.custom_objects)\n'
            "\n"
            "    def predict(self, context, model_input, params=None):\n"
            f"        return {keras_name}.ops.convert_to_numpy(self.model.predict({numpy}.asarray(model_input), verbose=0))\n"
        )
        model, example = trained.model, f"{trained.inputs}[:5]"
        name = registered_name(trained.model, None if trained.model_class in _GENERIC_KERAS_CLASSES else trained.model_class)
        if name in ("model", "self"):
            name = "keras-model"
        code = (
            'keras_model_path = os.path.join(tempfile.mkdtemp(), "model.keras")\n'
            f"{model}.save(keras_model_path)\n"
            "with mlflow.start_run():\n"
            "    mlflow.pyfunc.log_model(\n"
            '        name="model",\n'
            f"        python_model={_WRAPPER}(),\n"
            '        artifacts={"keras_model": keras_model_path},\n'
            "        # an explicit signature and requirements: inferring them would load the model again\n"
            f"        signature=infer_signature({example}, {model}.predict({example}, verbose=0)),\n"
            f'        pip_requirements=[f"keras=={{{keras_name}.__version__}}", "torch", "numpy"],\n'
            f'        registered_model_name="{name}",\n'
            "    )\n"
        )
        tree = insert_after(tree, trained.region, code, "Register the trained model in the MLflow Model Registry.")
        body = list(tree.body)
        position = max(body.index(c) for c in custom) + 1  # after the classes it names
        wrapper_class = cst.parse_statement(wrapper).with_changes(leading_lines=[cst.EmptyLine(indent=False)] * 2)
        body.insert(position, wrapper_class)
        return tree.with_changes(body=body)

    def _register_saved_batch_model(self, tree: cst.Module) -> cst.Module:
        """A model trained step by step (``train_on_batch``, often inside an agent class) has no
        training arrays in scope once training is over: register it where the script saves it,
        with a signature from a zero batch of its declared input shape."""
        imports = Imports.of(tree)
        trained = {
            receiver.split(".")[-1]
            for site in find_calls(tree, method_named("train_on_batch"))
            if (receiver := dotted_receiver(site.call)) is not None
        }
        if not trained:
            raise SkipFile("no model .fit(...) or .train_on_batch(...) call found")
        saves = [
            site
            for site in find_calls(tree, method_named("save"))
            if (receiver := dotted_receiver(site.call)) is not None
            and receiver.split(".")[-1] in trained
            and receiver.split(".")[0] not in ("self", "cls")
        ]
        if not saves:
            raise SkipFile("the model trained with train_on_batch is never saved (outside its class): where its training ends is unclear")
        site = saves[-1]
        model = dotted_receiver(site.call) or ""
        numpy = next((local for local, name in imports.names.items() if name == "numpy"), None)
        if numpy is None:
            AddImportsVisitor.add_needed_import(self.context, "numpy")
            numpy = "numpy"
        example = (
            f'example_shape = {model}.get_build_config()["input_shape"]  # subclassed models have it too\n'
            "# trained batch by batch, so no training array is in scope: a zero batch of its input shape\n"
            f'example_inputs = {numpy}.zeros((1, *example_shape[1:]), dtype="float32")\n'
        )
        trained_model = Trained(model, "example_inputs", region_of(site), constructor_class(tree, model))
        AddImportsVisitor.add_needed_import(self.context, "mlflow")
        AddImportsVisitor.add_needed_import(self.context, "mlflow.models", "infer_signature")
        return insert_after(
            tree, trained_model.region, example + registration(trained_model),
            "Register the trained model in the MLflow Model Registry.",
        )
