"""registry.mlflow for raw PyTorch: log the model the optimizer trains with ``mlflow.pytorch.log_model``
and register it, after the last statement that trains it, in the scope where the model is built.

The model is the one whose ``.parameters()`` an optimizer (``torch.optim.*``) receives. A statement
trains when it calls ``.backward()`` or a function that does (followed through helpers by name:
``train_epoch``, ``Trainer.fit`` ...). The input example is the inputs of a batch from a data loader
bound in that scope (a validation/test loader first), or the tensor the model is called on.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports, Region, Site, find_calls, parameters, region_of
from ._registry import assigned_name, constructor_class, dotted, insert_after, registered_name, source_of
from .registry_lightning import example_batch_code, torch_registration

_LOADER = "torch.utils.data.DataLoader"
# torch's own container classes say nothing about the model: the variable name is used instead.
_GENERIC_CLASSES = {"Sequential", "Module", "ModuleList", "ModuleDict"}


class _FunctionFacts(cst.CSTVisitor):
    """Per function name: the names it calls, and whether it calls ``.backward()`` itself."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.calls: dict[str, set[str]] = {}
        self.backward: set[str] = set()

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.stack.append(node.name.value)
        self.calls.setdefault(node.name.value, set())

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self.stack.pop()

    def visit_Call(self, node: cst.Call) -> None:
        if not self.stack:
            return
        called = _called_name(node)
        if called == "backward":
            self.backward.add(self.stack[-1])
        elif called:
            self.calls[self.stack[-1]].add(called)


def _called_name(call: cst.Call) -> str | None:
    if isinstance(call.func, cst.Name):
        return call.func.value
    if isinstance(call.func, cst.Attribute):
        return call.func.attr.value
    return None


def training_functions(tree: cst.Module) -> set[str]:
    """Names of functions that call ``.backward()``, directly or through other functions."""
    facts = _FunctionFacts()
    tree.visit(facts)
    training = set(facts.backward)
    changed = True
    while changed:
        changed = False
        for name, called in facts.calls.items():
            if name not in training and called & training:
                training.add(name)
                changed = True
    return training


def _trains(statement: cst.CSTNode, training: set[str]) -> bool:
    if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
        return False
    sites = find_calls(cst.Module(body=[statement]) if isinstance(statement, cst.BaseStatement) else statement,
                       lambda call: _called_name(call) == "backward" or _called_name(call) in training)
    return bool(sites)


def _bound_names(statement: cst.CSTNode) -> set[str]:
    """Names a top-level statement binds (assignment targets, tuple unpacking, with/for targets)."""
    names: set[str] = set()

    class Targets(cst.CSTVisitor):
        def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
            self._add(node.target)

        def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
            self._add(node.target)

        def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
            return False

        def _add(self, target: cst.BaseExpression) -> None:
            if isinstance(target, cst.Name):
                names.add(target.value)
            elif isinstance(target, (cst.Tuple, cst.List)):
                for element in target.elements:
                    self._add(element.value)

    if isinstance(statement, cst.BaseStatement):
        cst.Module(body=[statement]).visit(Targets())
    return names


class TorchMlflowRegistry(ActionCodemod):
    """After the training of the model the optimizer updates, log it with ``mlflow.pytorch.log_model``
    in a run and register it, with a batch of the script's own data as input example."""

    ACTION = "registry.mlflow"
    FRAMEWORKS = ("pytorch",)
    DESCRIPTION = "Register the trained PyTorch model in the MLflow Model Registry"

    EXAMPLES = [
        Example(
            before='''\
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

X, y = torch.randn(256, 8), torch.randn(256, 1)
train_loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
for epoch in range(2):
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(net(xb), yb)
        loss.backward()
        optimizer.step()
torch.save(net.state_dict(), "model.pt")
''',
            after='''\
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import mlflow

X, y = torch.randn(256, 8), torch.randn(256, 1)
train_loader = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
for epoch in range(2):
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(net(xb), yb)
        loss.backward()
        optimizer.step()

# Register the trained model in the MLflow Model Registry.
net.eval()
example_batch = next(iter(train_loader))
# the inputs of an (inputs, targets, ...) batch
example_inputs = example_batch[0] if isinstance(example_batch, (list, tuple)) else example_batch
with mlflow.start_run():
    mlflow.pytorch.log_model(
        net,
        name="model",
        input_example=example_inputs[:5].detach().cpu().numpy(),
        registered_model_name="net",
        serialization_format="pickle",
    )
torch.save(net.state_dict(), "model.pt")
''',
        ),
        Example(
            before='''\
import torch

from nets import Regressor


def train_epoch(model, optimizer, X, y):
    optimizer.zero_grad()
    loss = ((model(X) - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def main():
    X_train, y_train = torch.randn(64, 4), torch.randn(64, 1)
    model = Regressor()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(3):
        print(train_epoch(model, optimizer, X_train, y_train))
    print("done")
''',
            after='''\
import torch

from nets import Regressor
import mlflow


def train_epoch(model, optimizer, X, y):
    optimizer.zero_grad()
    loss = ((model(X) - y) ** 2).mean()
    loss.backward()
    optimizer.step()
    return loss.item()


def main():
    X_train, y_train = torch.randn(64, 4), torch.randn(64, 1)
    model = Regressor()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for epoch in range(3):
        print(train_epoch(model, optimizer, X_train, y_train))

    # Register the trained model in the MLflow Model Registry.
    model.eval()
    example_inputs = X_train
    with mlflow.start_run():
        mlflow.pytorch.log_model(
            model,
            name="model",
            input_example=example_inputs[:5].detach().cpu().numpy(),
            registered_model_name="regressor",
            serialization_format="pickle",
        )
    print("done")
''',
        ),
    ]

    DECLINES = [
        Decline(
            source='''\
import mlflow
import torch

mlflow.pytorch.autolog()
''',
            reason="already uses MLflow",
        ),
        Decline(
            source='''\
import torch

from nets import Discriminator, Generator

netG, netD = Generator(), Discriminator()
optG = torch.optim.Adam(netG.parameters())
optD = torch.optim.Adam(netD.parameters())
''',
            reason="several models",
        ),
        Decline(
            source='''\
import torch

from nets import GCN

features, adj = torch.randn(5, 3), torch.eye(5)
model = GCN()
optimizer = torch.optim.Adam(model.parameters())
for epoch in range(2):
    model(features, adj).sum().backward()
    optimizer.step()
''',
            reason="several inputs",
        ),
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        imports = Imports.of(tree)
        if imports.uses("mlflow"):
            raise SkipFile("the script already uses MLflow")
        model = _optimized_model(tree, imports)
        calls_of_model = find_calls(
            tree, lambda call: dotted(call.func) is not None and dotted(call.func).split(".")[-1] == model
        )
        if any(len([a for a in c.call.args if a.keyword is None]) > 1 for c in calls_of_model):
            raise SkipFile(f"{model} takes several inputs: an MLflow pytorch model takes one tensor")
        training = training_functions(tree)
        region, index = _registration_point(tree, model, training)
        insertion = Region(region.owner, index, region.function, region.path)
        example = _example_code(tree, imports, model, insertion, calls_of_model)
        model_class = constructor_class(tree, model)
        name = registered_name(model, None if model_class in _GENERIC_CLASSES else model_class)
        if name == "model":
            name = "pytorch-model"
        AddImportsVisitor.add_needed_import(self.context, "mlflow")
        code = example + torch_registration(model, name)
        return insert_after(tree, insertion, code, "Register the trained model in the MLflow Model Registry.")


def _optimized_model(tree: cst.Module, imports: Imports) -> str:
    """The one model whose ``.parameters()`` the script's optimizers receive (its local name)."""

    def is_optimizer(call: cst.Call) -> bool:
        qualified = imports.qualified(call.func) or ""
        return qualified.startswith("torch.optim.") and not qualified.startswith("torch.optim.lr_scheduler")

    models: set[str] = set()
    for site in find_calls(tree, is_optimizer):
        found = _parameter_owners(cst.Module(body=[cst.SimpleStatementLine([cst.Expr(site.call)])]))
        function = region_of(site).function
        if not found and function is not None:
            # an optimizer builder (param groups from ``model.named_parameters()``): the model is the
            # builder's parameter, named as the caller names it
            owners = _parameter_owners(cst.Module(body=list(function.body.body))) & parameters(function)
            found = {_caller_argument(tree, function, owner) for owner in owners} - {None}
        models |= {name.split(".")[-1] for name in found}
    if not models:
        raise SkipFile("no torch.optim optimizer over a model's .parameters() found")
    if len(models) > 1:
        raise SkipFile(f"several models are trained ({', '.join(sorted(models))}): which one to register is unclear")
    return models.pop()


def _parameter_owners(scope: cst.Module) -> set[str]:
    """Receivers of ``X.parameters()`` / ``X.named_parameters()`` calls in ``scope``."""
    owners = set()
    for inner in find_calls(scope, lambda call: _called_name(call) in ("parameters", "named_parameters")):
        receiver = dotted(inner.call.func.value) if isinstance(inner.call.func, cst.Attribute) else None
        if receiver:
            owners.add(receiver)
    return owners


def _caller_argument(tree: cst.Module, function: cst.FunctionDef, parameter: str, within: cst.CSTNode | None = None) -> str | None:
    """The (dotted) argument the last call of ``function`` passes for ``parameter``, if any."""
    names = [p.name.value for p in function.params.params]
    found = None
    for site in find_calls(tree, lambda call: _called_name(call) == function.name.value):
        if within is not None and not any(node is within for node in site.path):
            continue
        positional = [a for a in site.call.args if a.keyword is None and not a.star]
        offset = 1 if names and names[0] in ("self", "cls") and isinstance(site.call.func, cst.Attribute) else 0
        index = names.index(parameter) - offset if parameter in names else -1
        if 0 <= index < len(positional):
            found = dotted(positional[index].value) or found
        for arg in site.call.args:
            if arg.keyword and arg.keyword.value == parameter:
                found = dotted(arg.value) or found
    return found


def _registration_point(tree: cst.Module, model: str, training: set[str]) -> tuple[Region, int]:
    """The scope where ``model`` is bound, and the index of its last training statement there."""

    def binds_model(call: cst.Call) -> bool:
        return True

    best: tuple[Region, int] | None = None
    for site in find_calls(tree, binds_model):
        if assigned_name(site) != model:
            continue
        region = region_of(site)
        body = list(region.owner.body)
        trains = [i for i in range(region.index + 1, len(body)) if _trains(body[i], training)]
        if trains:
            best = (region, trains[-1])
    if best is None:
        raise SkipFile(f"no training of {model} found after it is built in the same scope")
    return best


def _example_code(tree: cst.Module, imports: Imports, model: str, insertion: Region, calls_of_model: list[Site]) -> str:
    body = list(insertion.owner.body)[: insertion.index + 1]
    bound: set[str] = set().union(*(_bound_names(s) for s in body))
    if insertion.function is not None:
        bound |= parameters(insertion.function)
    if insertion.function is None and isinstance(insertion.owner, cst.IndentedBlock):
        bound |= set().union(*(_bound_names(s) for s in tree.body))  # under `if __name__ == "__main__":`
    loaders = sorted(
        {
            name
            for site in find_calls(tree, lambda call: imports.qualified(call.func) == _LOADER)
            if (name := assigned_name(site)) in bound
        }
        | {name for name in bound if name.endswith("loader")}
    )
    loaders.sort(key=lambda name: (not any(word in name for word in ("val", "test", "eval")), name))
    if loaders:
        return example_batch_code(model, loaders[0])
    for site in calls_of_model:
        argument = site.call.args[0].value if site.call.args else None
        text = dotted(argument) if argument is not None else None
        if text and text.split(".")[0] in bound:
            return f"{model}.eval()\nexample_inputs = {source_of(argument)}\n"
        function = region_of(site).function
        if text and function is not None and text in parameters(function):
            # the model is called in a helper on one of its parameters: what the scope passes it
            passed = _caller_argument(tree, function, text, within=insertion.owner)
            if passed and passed.split(".")[0] in bound:
                return f"{model}.eval()\nexample_inputs = {passed}\n"
    raise SkipFile("no data loader or input tensor in scope for an input example")
