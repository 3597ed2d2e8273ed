"""registry.mlflow for PyTorch Lightning: after ``trainer.fit(model, ...)``, log the LightningModule
(an ``nn.Module``) with ``mlflow.pytorch.log_model`` and register it. The input example is the
inputs of the first batch of the loader it was trained on (the fit's train loader, its datamodule's
``train_dataloader()``, or the module's own)."""

from __future__ import annotations

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports, find_calls, region_of
from ._registry import Trained, constructor_class, dotted, insert_after, last_site, registered_name, source_of

_TRAINERS = ("lightning.Trainer", "lightning.pytorch.Trainer", "pytorch_lightning.Trainer")


def example_batch_code(model: str, loader: str) -> str:
    """Statements binding ``example_inputs`` to at most 5 rows of the first batch's inputs, as numpy."""
    return (
        f"{model}.eval()\n"
        f"example_batch = next(iter({loader}))\n"
        "# the inputs of an (inputs, targets, ...) batch\n"
        "example_inputs = example_batch[0] if isinstance(example_batch, (list, tuple)) else example_batch\n"
    )


def torch_registration(model: str, name: str) -> str:
    # pickle (cloudpickle) rather than MLflow 3's default torch.export: export needs a model that
    # traces with the example's exact shapes, pickle keeps any nn.Module loadable.
    return (
        "with mlflow.start_run():\n"
        "    mlflow.pytorch.log_model(\n"
        f"        {model},\n"
        '        name="model",\n'
        "        input_example=example_inputs[:5].detach().cpu().numpy(),\n"
        f'        registered_model_name="{name}",\n'
        '        serialization_format="pickle",\n'
        "    )\n"
    )


def _argument(call: cst.Call, index: int, keyword: str) -> cst.BaseExpression | None:
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    if len(positional) > index:
        return positional[index].value
    return next((arg.value for arg in call.args if arg.keyword and arg.keyword.value == keyword), None)


class LightningMlflowRegistry(ActionCodemod):
    """After the last ``trainer.fit(model, ...)``, log the model with ``mlflow.pytorch.log_model``
    in a run and register it."""

    ACTION = "registry.mlflow"
    FRAMEWORKS = ("lightning",)
    DESCRIPTION = "Register the trained Lightning model in the MLflow Model Registry"

    EXAMPLES = [
        Example(
            before='''\
import lightning as L

from model import LitClassifier, loaders

train_loader, val_loader = loaders()
classifier = LitClassifier()
trainer = L.Trainer(max_epochs=2, logger=False)
trainer.fit(classifier, train_loader, val_loader)
print(trainer.callback_metrics["val_acc"])
''',
            after='''\
import lightning as L

from model import LitClassifier, loaders
import mlflow

train_loader, val_loader = loaders()
classifier = LitClassifier()
trainer = L.Trainer(max_epochs=2, logger=False)
trainer.fit(classifier, train_loader, val_loader)

# Register the trained model in the MLflow Model Registry.
classifier.eval()
example_batch = next(iter(train_loader))
# the inputs of an (inputs, targets, ...) batch
example_inputs = example_batch[0] if isinstance(example_batch, (list, tuple)) else example_batch
with mlflow.start_run():
    mlflow.pytorch.log_model(
        classifier,
        name="model",
        input_example=example_inputs[:5].detach().cpu().numpy(),
        registered_model_name="lit-classifier",
        serialization_format="pickle",
    )
print(trainer.callback_metrics["val_acc"])
''',
        ),
        Example(
            before='''\
import pytorch_lightning as pl


def main(model, data):
    trainer = pl.Trainer(max_epochs=3)
    trainer.fit(model, datamodule=data)
    trainer.test(model, datamodule=data)
''',
            after='''\
import pytorch_lightning as pl
import mlflow


def main(model, data):
    trainer = pl.Trainer(max_epochs=3)
    trainer.fit(model, datamodule=data)

    # Register the trained model in the MLflow Model Registry.
    model.eval()
    example_batch = next(iter(data.train_dataloader()))
    # the inputs of an (inputs, targets, ...) batch
    example_inputs = example_batch[0] if isinstance(example_batch, (list, tuple)) else example_batch
    with mlflow.start_run():
        mlflow.pytorch.log_model(
            model,
            name="model",
            input_example=example_inputs[:5].detach().cpu().numpy(),
            registered_model_name="lightning-model",
            serialization_format="pickle",
        )
    trainer.test(model, datamodule=data)
''',
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import lightning as L
import mlflow

mlflow.pytorch.autolog()
''',
            reason="already uses MLflow",
        ),
        Decline(
            source='''\
import lightning as L

from model import LitModel

L.Trainer(max_epochs=1).fit(LitModel())
''',
            reason="not bound to a name",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        imports = Imports.of(tree)
        if imports.uses("mlflow"):
            raise SkipFile("the script already uses MLflow")
        trainers = _trainer_names(tree, imports)

        def is_trainer_fit(call: cst.Call) -> bool:
            if not (isinstance(call.func, cst.Attribute) and call.func.attr.value == "fit"):
                return False
            receiver = call.func.value
            return dotted(receiver) in trainers or (
                isinstance(receiver, cst.Call) and imports.qualified(receiver.func) in _TRAINERS
            )

        site = last_site(find_calls(tree, is_trainer_fit), "Lightning trainer.fit(...) call")
        model_node = _argument(site.call, 0, "model")
        model = dotted(model_node) if model_node is not None else None
        if model is None:
            raise SkipFile("the trained LightningModule is not bound to a name")
        loader_node = _argument(site.call, 1, "train_dataloaders")
        datamodule = next((a.value for a in site.call.args if a.keyword and a.keyword.value == "datamodule"), None)
        if loader_node is not None and dotted(loader_node) is not None:
            loader = source_of(loader_node)
        elif datamodule is not None and dotted(datamodule) is not None:
            loader = f"{source_of(datamodule)}.train_dataloader()"
        elif loader_node is None:
            loader = f"{model}.train_dataloader()"
        else:
            raise SkipFile("the training data of trainer.fit(...) is not bound to a name")
        region = region_of(site)
        model_class = constructor_class(tree, model)
        name = registered_name(model, model_class)
        if name == "model":
            name = "lightning-model"
        trained = Trained(model=model, inputs=loader, region=region, model_class=model_class)
        AddImportsVisitor.add_needed_import(self.context, "mlflow")
        code = example_batch_code(trained.model, loader) + torch_registration(trained.model, name)
        return insert_after(tree, region, code, "Register the trained model in the MLflow Model Registry.")


def _trainer_names(tree: cst.Module, imports: Imports) -> set[str]:
    """Names bound to a Lightning ``Trainer(...)`` (or to a helper's result named like a trainer)."""
    names: set[str] = set()
    for site in find_calls(tree, lambda call: True):
        parent = site.path[-2] if len(site.path) > 1 else None
        if not (isinstance(parent, cst.Assign) and parent.value is site.call and len(parent.targets) == 1):
            continue
        target = dotted(parent.targets[0].target)
        if target is None:
            continue
        if imports.qualified(site.call.func) in _TRAINERS or "trainer" in target.split(".")[-1].lower():
            names.add(target)
    return names
