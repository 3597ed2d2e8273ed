"""registry.mlflow for raw PyTorch: log the model the optimizer trains with ``mlflow.pytorch.log_model``
and register it, after the last statement that trains it, in the scope where the model is built.

The model is the one whose ``.parameters()`` an optimizer (``torch.optim.*``) receives; when several
are trained (a GAN's generator and discriminator), the one ``torch.save`` writes last. A statement
trains when it calls ``.backward()`` or a function that does (followed through helpers by name:
``train_epoch``, ``Trainer.fit`` ...). The input example is what the script itself calls the model
on in that scope, else the inputs of a batch from a data loader bound there (a validation/test
loader first), else the tensor a helper calls it on. A model whose forward takes several inputs
(a graph's features and adjacency, a language model's tokens and hidden state) is registered
without an input example: MLflow's pytorch pyfunc predicts on one array.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod import SkipFile
from libcst.codemod.visitors import AddImportsVisitor

from .. import ActionCodemod, Decline, Example
from .._shared import Imports, Region, Site, fast_visit, find_calls, parameters, region_of
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
    fast_visit(tree, facts)
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
        fast_visit(cst.Module(body=[statement]), Targets())
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
        Example(
            before='''\
import torch

from nets import GCN

features, adj = torch.randn(5, 3), torch.eye(5)
model = GCN()
optimizer = torch.optim.Adam(model.parameters())
for epoch in range(2):
    model(features, adj).sum().backward()
    optimizer.step()
''',
            after='''\
import torch

from nets import GCN
import mlflow

features, adj = torch.randn(5, 3), torch.eye(5)
model = GCN()
optimizer = torch.optim.Adam(model.parameters())
for epoch in range(2):
    model(features, adj).sum().backward()
    optimizer.step()

# Register the trained model in the MLflow Model Registry.
model.eval()
# model's forward takes several inputs, which an MLflow input example (one array) cannot
# describe: the model is registered without one.
with mlflow.start_run():
    mlflow.pytorch.log_model(
        model,
        name="model",
        registered_model_name="gcn",
        serialization_format="pickle",
    )
''',
        ),
        Example(
            before='''\
import torch

from nets import Discriminator, Generator

netG, netD = Generator(), Discriminator()
optG = torch.optim.Adam(netG.parameters())
optD = torch.optim.Adam(netD.parameters())
for step in range(2):
    noise = torch.randn(8, 16)
    optD.zero_grad()
    netD(netG(noise).detach()).mean().backward()
    optD.step()
    optG.zero_grad()
    (-netD(netG(noise)).mean()).backward()
    optG.step()
with torch.no_grad():
    samples = netG(torch.randn(4, 16))
torch.save(netG.state_dict(), "generator.pt")
''',
            after='''\
import torch

from nets import Discriminator, Generator
import mlflow

netG, netD = Generator(), Discriminator()
optG = torch.optim.Adam(netG.parameters())
optD = torch.optim.Adam(netD.parameters())
for step in range(2):
    noise = torch.randn(8, 16)
    optD.zero_grad()
    netD(netG(noise).detach()).mean().backward()
    optD.step()
    optG.zero_grad()
    (-netD(netG(noise)).mean()).backward()
    optG.step()

# Register the trained model in the MLflow Model Registry.
netG.eval()
example_inputs = noise
with mlflow.start_run():
    mlflow.pytorch.log_model(
        netG,
        name="model",
        input_example=example_inputs[:5].detach().cpu().numpy(),
        registered_model_name="net-g",
        serialization_format="pickle",
    )
with torch.no_grad():
    samples = netG(torch.randn(4, 16))
torch.save(netG.state_dict(), "generator.pt")
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
    ]

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        imports = Imports.of(tree)
        if imports.uses("mlflow"):
            raise SkipFile("the script already uses MLflow")
        model = _optimized_model(tree, imports)
        calls_of_model = find_calls(
            tree, lambda call: dotted(call.func) is not None and dotted(call.func).split(".")[-1] == model
        )
        several_inputs = any(len(_model_inputs(c.call)) > 1 for c in calls_of_model)
        training = training_functions(tree)
        region, index = _registration_point(tree, model, training)
        insertion = Region(region.owner, index, region.function, region.path)
        model_class = constructor_class(tree, model)
        name = registered_name(model, None if model_class in _GENERIC_CLASSES else model_class)
        if name == "model":
            name = "pytorch-model"
        AddImportsVisitor.add_needed_import(self.context, "mlflow")
        if several_inputs:
            code = f"{model}.eval()\n" + torch_registration_without_example(model, name)
        else:
            code = _example_code(tree, imports, model, insertion, calls_of_model) + torch_registration(model, name)
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
        # several trained models (a GAN's generator and discriminator, an actor and a critic): the
        # one the script keeps, i.e. saves last, is its product
        saved = [name for name in _saved_models(tree, imports) if name in models]
        if not saved:
            raise SkipFile(
                f"several models are trained ({', '.join(sorted(models))}) and none is saved: which one to register is unclear"
            )
        return saved[-1]
    return models.pop()


def _saved_models(tree: cst.Module, imports: Imports) -> list[str]:
    """Local names (last attribute) of the models ``torch.save`` writes, in source order:
    ``torch.save(net.state_dict(), ...)`` or ``torch.save(net, ...)``."""
    saved: list[str] = []
    for site in find_calls(tree, lambda call: imports.qualified(call.func) == "torch.save"):
        positional = [arg.value for arg in site.call.args if arg.keyword is None and not arg.star]
        if not positional:
            continue
        what = positional[0]
        if isinstance(what, cst.Call) and _called_name(what) == "state_dict" and isinstance(what.func, cst.Attribute):
            what = what.func.value
        name = dotted(what)
        if name:
            saved.append(name.split(".")[-1])
    return saved


def _model_inputs(call: cst.Call) -> list[cst.Arg]:
    """The inputs a model call passes: positional arguments and keyword tensors (not ``*args``)."""
    return [arg for arg in call.args if not arg.star]


def torch_registration_without_example(model: str, name: str) -> str:
    """Registration of a model whose forward takes several inputs: MLflow's pytorch pyfunc predicts
    on one array or DataFrame, so no input example (and no signature) can describe the call; the
    model is still registered and loads back (``mlflow.pytorch.load_model`` gives the nn.Module)."""
    return (
        f"# {model}'s forward takes several inputs, which an MLflow input example (one array) cannot\n"
        "# describe: the model is registered without one.\n"
        "with mlflow.start_run():\n"
        "    mlflow.pytorch.log_model(\n"
        f"        {model},\n"
        '        name="model",\n'
        f'        registered_model_name="{name}",\n'
        '        serialization_format="pickle",\n'
        "    )\n"
    )


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
        if assigned_name(site) != model and _unpacked_name(site) != model:
            continue
        region = region_of(site)
        body = list(region.owner.body)
        trains = [i for i in range(region.index + 1, len(body)) if _trains(body[i], training)]
        if trains:
            best = (region, trains[-1])
    if best is None:
        raise SkipFile(f"no training of {model} found after it is built in the same scope")
    return best


def _unpacked_name(site: Site) -> str | None:
    """``b`` for the call ``Y()`` in ``a, b = X(), Y()`` (parallel assignment of constructors)."""
    if len(site.path) < 4 or not isinstance(site.path[-2], cst.Element):
        return None
    values, assign = site.path[-3], site.path[-4]
    if not isinstance(values, cst.Tuple) or not isinstance(assign, cst.Assign) or assign.value is not values:
        return None
    if len(assign.targets) != 1 or not isinstance(assign.targets[0].target, cst.Tuple):
        return None
    names = assign.targets[0].target.elements
    position = [element.value for element in values.elements].index(site.call)
    return dotted(names[position].value) if len(names) == len(values.elements) else None


def _example_code(tree: cst.Module, imports: Imports, model: str, insertion: Region, calls_of_model: list[Site]) -> str:
    body = list(insertion.owner.body)[: insertion.index + 1]
    bound: set[str] = set().union(*(_bound_names(s) for s in body))
    if insertion.function is not None:
        bound |= parameters(insertion.function)
    if insertion.function is None and isinstance(insertion.owner, cst.IndentedBlock):
        bound |= set().union(*(_bound_names(s) for s in tree.body))  # under `if __name__ == "__main__":`
    direct = _direct_call_input(imports, insertion, calls_of_model, bound)
    if direct is not None:
        # the script itself calls the model on this in the same scope (sampling a generator from
        # noise, predicting on a test tensor): a better example than a guess from a data loader
        return f"{model}.eval()\nexample_inputs = {direct}\n"
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


def _direct_call_input(imports: Imports, insertion: Region, calls_of_model: list[Site], bound: set[str]) -> str | None:
    """The source of the input of a call of the model in the insertion's own scope whose names are
    all bound there (or imported), e.g. ``torch.randn(n, nz, 1, 1)`` or ``X_test``; else None."""
    found: list[cst.BaseExpression] = []
    for site in calls_of_model:
        if not site.call.args or region_of(site).function is not insertion.function:
            continue
        if not any(node is insertion.owner for node in site.path):
            continue
        argument = site.call.args[0].value
        if _free_names(argument) <= bound | set(imports.names):
            found.append(argument)
    # a whole tensor (``X_val``) before an expression (``X_train[idx]`` reads a loop's last index)
    found.sort(key=lambda argument: dotted(argument) is None)
    return source_of(found[0]) if found else None


def _free_names(expression: cst.BaseExpression) -> set[str]:
    """Names an expression reads (not attribute names or keyword names); lambdas and
    comprehensions bind their own names, so they count as unknown."""
    names: set[str] = set()

    class Reads(cst.CSTVisitor):
        def visit_Name(self, node: cst.Name) -> None:
            names.add(node.value)

        def visit_Attribute(self, node: cst.Attribute) -> bool:
            fast_visit(node.value, self)
            return False

        def visit_Arg(self, node: cst.Arg) -> bool:
            fast_visit(node.value, self)
            return False

        def visit_Lambda(self, node: cst.Lambda) -> bool:
            names.add("<lambda>")
            return False

        def visit_ListComp(self, node: cst.ListComp) -> bool:
            names.add("<comprehension>")
            return False

        visit_GeneratorExp = visit_SetComp = visit_DictComp = visit_ListComp

    fast_visit(expression, Reads())
    return names
