"""Shared engine of the registry.mlflow codemods: find the trained model, the data it was trained
on, and the place after its last training where both are in scope; insert the registration there.

No libcst metadata (speed rule): calls are found with ``find_calls`` and scopes with ``region_of``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import libcst as cst
import libcst.matchers as m
from libcst.codemod import SkipFile
from libcst.helpers import get_full_name_for_node

from .._shared import Region, Site, fast_visit, find_calls, parameters, region_of, replace_node

# Local names the script gives its models that say nothing about them: the class name is used instead.
_GENERIC_NAMES = {"model", "clf", "est", "estimator", "regr", "reg", "net", "m"}


@dataclass(frozen=True)
class Trained:
    """The trained model (source text), a row-sliceable expression of its inputs, where to register."""

    model: str
    inputs: str
    region: Region
    model_class: str | None = None


def dotted(node: cst.CSTNode) -> str | None:
    """``model`` or ``self.model`` (a name or attribute chain of names), else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute) and dotted(node.value) is not None:
        return f"{dotted(node.value)}.{node.attr.value}"
    return None


def first_argument(call: cst.Call, keyword: str) -> cst.BaseExpression | None:
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    if positional:
        return positional[0].value
    return next((arg.value for arg in call.args if arg.keyword and arg.keyword.value == keyword), None)


def source_of(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def assigned_name(site: Site) -> str | None:
    """``name`` in ``name = <call>`` when the call is the whole right-hand side."""
    parent = site.path[-2] if len(site.path) > 1 else None
    if isinstance(parent, cst.Assign) and len(parent.targets) == 1 and parent.value is site.call:
        return dotted(parent.targets[0].target)
    if isinstance(parent, cst.AnnAssign) and parent.value is site.call:
        return dotted(parent.target)
    return None


def is_returned(site: Site) -> bool:
    return len(site.path) > 1 and isinstance(site.path[-2], cst.Return)


def lift_to_caller(
    tree: cst.Module, site: Site, inputs: cst.BaseExpression, model: cst.BaseExpression | None = None
) -> Trained:
    """The fit is ``return model.fit(X, ...)`` in a helper: register after the helper's (last) call,
    with the inputs mapped from the helper's parameters. The model is what the helper returns
    (bound to a name by the caller) or, when ``model`` is given, that expression mapped likewise."""
    function = region_of(site).function
    if function is None:
        raise SkipFile("the trained model is returned outside a function")
    name = function.name.value
    is_method = bool(function.params.params) and function.params.params[0].name.value in ("self", "cls")

    def calls_helper(call: cst.Call) -> bool:
        func = call.func
        if is_method:
            return m.matches(func, m.Attribute(value=m.Name("self") | m.Name("cls"), attr=m.Name(name)))
        return m.matches(func, m.Name(name))

    callers = [s for s in find_calls(tree, calls_helper) if model is not None or assigned_name(s)]
    if not callers:
        raise SkipFile(f"the model trained in {name}() is not bound to a name where it is called")
    caller = callers[-1]
    mapped = _map_inputs(function, caller.call, inputs, is_method)
    trained_model = _map_inputs(function, caller.call, model, is_method) if model is not None else assigned_name(caller)
    return Trained(model=trained_model or "", inputs=mapped, region=region_of(caller))


def lift_parameter_model(tree: cst.Module, site: Site, inputs: cst.BaseExpression) -> Trained | None:
    """A helper fits the model it is given (``def fit_and_score(clf, X, y): clf.fit(X, y)``): the
    caller holds the trained model, and registering inside the helper would register once per
    call. None when the model is not a parameter or the helper's caller is not found."""
    function = region_of(site).function
    receiver = site.call.func.value if isinstance(site.call.func, cst.Attribute) else None
    model = dotted(receiver) if receiver is not None else None
    if function is None or model is None or model.split(".")[0] in ("self", "cls") or model not in parameters(function):
        return None
    try:
        return lift_to_caller(tree, site, inputs, model=receiver)
    except SkipFile:
        return None


def _map_inputs(function: cst.FunctionDef, call: cst.Call, inputs: cst.BaseExpression, is_method: bool) -> str:
    text = dotted(inputs)
    if text is None:
        raise SkipFile("the training inputs are not a plain name")
    if text.split(".")[0] in ("self", "cls"):
        if not is_method:
            raise SkipFile("the training inputs are attributes of an object not in scope")
        return text  # the caller is a method of the same class
    params = [p.name.value for p in function.params.params][1 if is_method else 0 :]
    if text not in parameters(function):
        return text  # a module-level name
    positional = [arg for arg in call.args if arg.keyword is None and not arg.star]
    if text in params and params.index(text) < len(positional):
        return source_of(positional[params.index(text)].value)
    for arg in call.args:
        if arg.keyword and arg.keyword.value == text:
            return source_of(arg.value)
    raise SkipFile(f"could not map the training inputs {text!r} to the caller's arguments")


def constructor_class(tree: cst.Module, model: str) -> str | None:
    """The class of ``model = SomeClass(...)`` (last such assignment in the file), if any."""

    def constructs(call: cst.Call) -> bool:
        return get_full_name_for_node(call.func) is not None

    returns = _annotated_returns(tree)
    found = None
    for site in find_calls(tree, constructs):
        if assigned_name(site) == model:
            last = (get_full_name_for_node(site.call.func) or "").split(".")[-1]
            if last[:1].isupper():
                found = last
            elif returns.get(last, "")[:1].isupper():
                found = returns[last]  # a factory ``def make_model(...) -> SGDClassifier``
    return found


def _annotated_returns(tree: cst.Module) -> dict[str, str]:
    """Function name -> the class name its return annotation gives (``-> nn.Module`` -> ``Module``)."""
    found: dict[str, str] = {}

    class Returns(cst.CSTVisitor):
        def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
            if node.returns is not None:
                name = get_full_name_for_node(node.returns.annotation)
                if name:
                    found[node.name.value] = name.split(".")[-1]

    fast_visit(tree, Returns())
    return found


def registered_name(model: str, model_class: str | None) -> str:
    """A registry name from the model's class (``RandomForestClassifier`` -> ``random-forest-classifier``)
    or, without one, from its variable name."""
    base = model.split(".")[-1]
    if model_class and (base.lower() in _GENERIC_NAMES or len(base) <= 2):
        base = model_class
    elif model_class:
        base = model_class
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", base).replace("_", "-").lower()
    return re.sub(r"-+", "-", words).strip("-") or "model"


def insert_after(tree: cst.Module, region: Region, code: str, comment: str) -> cst.Module:
    """Insert the statements of ``code``, under ``# comment``, right after ``region.owner.body[region.index]``."""
    statements = list(cst.parse_module(code).body)
    statements[0] = statements[0].with_changes(
        leading_lines=[cst.EmptyLine(indent=False), cst.EmptyLine(comment=cst.Comment(f"# {comment}"))]
    )
    body = list(region.owner.body)
    body[region.index + 1 : region.index + 1] = statements
    return replace_node(tree, region.path, region.owner, region.owner.with_changes(body=body))


def last_site(sites: list[Site], what: str) -> Site:
    if not sites:
        raise SkipFile(f"no {what} found")
    return sites[-1]


def dotted_receiver(call: cst.Call) -> str | None:
    return dotted(call.func.value) if isinstance(call.func, cst.Attribute) else None


def method_named(*names: str) -> Callable[[cst.Call], bool]:
    return lambda call: isinstance(call.func, cst.Attribute) and call.func.attr.value in names
