"""Where a raw PyTorch script trains, for the during-training pruning codemods (torch and NNCF).

A pruning schedule needs three things from the script: the epoch loop (a ``for`` loop over a
``range`` that trains, through a nested batch loop or a ``train_epoch(...)``-style call), the
model(s) the optimizer updates (the receivers of ``.parameters()`` in the optimizer's arguments),
and the number of epochs (from the loop's ``range``). Everything is found without libcst metadata.
"""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst
import libcst.matchers as m
from libcst.codemod import SkipFile
from libcst.helpers import get_full_name_for_node

from .._shared import Imports, fast_visit, replace_node
from .._tracking import ModuleIndex, Training, code_of, collect, last_import

_RANGE_FUNCTIONS = ("range", "trange", "tqdm.trange", "tqdm.auto.trange")
_PARAMETER_METHODS = ("parameters", "named_parameters")


@dataclass(frozen=True)
class EpochLoop:
    loop: cst.For
    path: tuple[cst.CSTNode, ...]  # module .. the block holding the loop (the loop excluded)
    function: cst.FunctionDef | None
    class_name: str | None
    models: list[str]  # expressions (source) of the trained models, visible at the loop
    epochs: str | None  # expression (source) of the number of epochs, if the loop says it


class _LoopCollector(cst.CSTVisitor):
    """Every ``for`` loop with its path and the function/class holding it (one pass)."""

    def __init__(self) -> None:
        self.stack: list[cst.CSTNode] = []
        self.loops: list[tuple[cst.For, tuple[cst.CSTNode, ...]]] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(node)
        if isinstance(node, cst.For):
            self.loops.append((node, tuple(self.stack[:-1])))
        return not isinstance(node, cst.BaseExpression)

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()


def _range_call(loop: cst.For, imports: Imports) -> cst.Call | None:
    """The ``range(...)`` (or ``trange``, or ``tqdm(range(...))``) the loop iterates over."""
    iterable = loop.iter
    if isinstance(iterable, cst.Call) and (get_full_name_for_node(iterable.func) or "").split(".")[-1] == "tqdm":
        iterable = iterable.args[0].value if iterable.args else iterable
    if not isinstance(iterable, cst.Call):
        return None
    name = get_full_name_for_node(iterable.func) or ""
    qualified = imports.qualified(iterable.func) or name
    if name == "range" or qualified in _RANGE_FUNCTIONS:
        if all(arg.keyword is None and arg.star == "" for arg in iterable.args) and 1 <= len(iterable.args) <= 3:
            return iterable
    return None


def _enclosing(path: tuple[cst.CSTNode, ...]) -> tuple[cst.FunctionDef | None, cst.ClassDef | None]:
    function = next((node for node in reversed(path) if isinstance(node, cst.FunctionDef)), None)
    klass = None
    if function is not None:
        position = path.index(function)
        if position > 0 and isinstance(path[position - 1], cst.IndentedBlock) and position > 1:
            klass = path[position - 2] if isinstance(path[position - 2], cst.ClassDef) else None
    return function, klass


def _has_inner_training(loop: cst.For, training: Training, class_name: str | None) -> bool:
    """An epoch loop holds the batch loop that trains, or calls a function that trains."""
    for statement in loop.body.body if isinstance(loop.body, cst.IndentedBlock) else ():
        for node in _loops_in(statement):
            if training.reaches([node.body], class_name):
                return True
    return bool(training.training_callees(loop.body, class_name))


def _loops_in(node: cst.CSTNode) -> list[cst.For | cst.While]:
    found: list[cst.For | cst.While] = []

    class _Loops(cst.CSTVisitor):
        def visit_For(self, loop: cst.For) -> None:
            found.append(loop)

        def visit_While(self, loop: cst.While) -> None:
            found.append(loop)

        def visit_FunctionDef(self, function: cst.FunctionDef) -> bool:
            return False

    fast_visit(node, _Loops())
    return found


def _is_optimizer(call: cst.Call, imports: Imports) -> bool:
    qualified = imports.qualified(call.func) or ""
    last = qualified.rsplit(".", 1)[-1]
    return qualified.startswith("torch.optim.") and "lr_scheduler" not in qualified and last[:1].isupper()


def _parameter_receivers(node: cst.CSTNode) -> list[cst.BaseExpression]:
    return [
        call.func.value
        for call in collect([node]).calls
        if m.matches(call.func, m.Attribute(attr=m.OneOf(*(m.Name(n) for n in _PARAMETER_METHODS))))
    ]


def _optimized_models(scope_nodes: list[cst.CSTNode], index: ModuleIndex, imports: Imports) -> list[str]:
    """Sources of the expressions whose parameters an optimizer built in these nodes updates; an
    optimizer built by a module function (``build_optimizer(model, args)``) maps back to its argument."""
    models: list[str] = []
    for call in collect(scope_nodes).calls:
        receivers: list[cst.BaseExpression] = []
        if _is_optimizer(call, imports):
            receivers = _parameter_receivers(call)
        else:
            callee = index.functions.get(get_full_name_for_node(call.func) or "")
            if callee is not None and any(_is_optimizer(c, imports) for c in collect([callee.body]).calls):
                receivers = _mapped_arguments(callee, call)
        for receiver in receivers:
            source = code_of(receiver)
            if source not in models:
                models.append(source)
    return models


def _mapped_arguments(callee: cst.FunctionDef, call: cst.Call) -> list[cst.BaseExpression]:
    names = [p.name.value for p in callee.params.params]
    used = {code_of(r) for r in _parameter_receivers(callee.body)}
    mapped: list[cst.BaseExpression] = []
    for position, arg in enumerate(call.args):
        name = arg.keyword.value if arg.keyword else (names[position] if position < len(names) else None)
        if name in used:
            mapped.append(arg.value)
    return mapped


def _self_attribute_for(klass: cst.ClassDef, name: str) -> str | None:
    """``self.model = model`` in a method of the class -> ``self.model``."""
    for statement in klass.body.body if isinstance(klass.body, cst.IndentedBlock) else ():
        if isinstance(statement, cst.FunctionDef):
            for assign in _assignments(statement):
                if m.matches(assign.value, m.Name(name)) and len(assign.targets) == 1:
                    target = assign.targets[0].target
                    if m.matches(target, m.Attribute(value=m.Name("self"))):
                        return code_of(target)
    return None


def _assignments(node: cst.CSTNode) -> list[cst.Assign]:
    found: list[cst.Assign] = []

    class _Assigns(cst.CSTVisitor):
        def visit_Assign(self, assign: cst.Assign) -> None:
            found.append(assign)

    fast_visit(node, _Assigns())
    return found


def _module_names(tree: cst.Module) -> set[str]:
    names = set(Imports.of(tree).names)
    for statement in tree.body:
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            names.add(statement.name.value)
        else:
            names.update(collect([statement]).bound)
    return names


def _visible(model: str, function: cst.FunctionDef | None, klass: cst.ClassDef | None, module_names: set[str]) -> bool:
    head = model.split(".")[0].split("(")[0].split("[")[0]
    if head == "self":
        return klass is not None
    if function is not None:
        params = function.params
        bound = {p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)}
        if head in bound or head in collect([function.body]).bound:
            return True
    return head in module_names


def _models_for(
    tree: cst.Module, function: cst.FunctionDef | None, klass: cst.ClassDef | None, index: ModuleIndex, imports: Imports
) -> list[str]:
    module_names = _module_names(tree)
    scopes: list[list[cst.CSTNode]] = []
    if function is not None:
        scopes.append([function.body])
    if klass is not None:  # e.g. the optimizer built in __init__, the loop in fit()
        scopes.append([s.body for s in klass.body.body if isinstance(s, cst.FunctionDef)])
    scopes.append([s for s in tree.body if not isinstance(s, (cst.FunctionDef, cst.ClassDef))])
    for nodes in scopes:
        models = _optimized_models(nodes, index, imports)
        if not models:
            continue
        resolved: list[str] = []
        for model in models:
            if not _visible(model, function, klass, module_names):
                attribute = _self_attribute_for(klass, model) if klass is not None else None
                if attribute is None:
                    raise SkipFile(f"the optimized model `{model}` is not visible at the epoch loop")
                model = attribute
            resolved.append(model)
        return resolved
    raise SkipFile("no model found (no torch.optim optimizer over a model's .parameters())")


def find_epoch_loop(tree: cst.Module, imports: Imports) -> EpochLoop:
    index = ModuleIndex.of(tree, imports)
    training = Training(index)
    collector = _LoopCollector()
    fast_visit(tree, collector)
    candidates: list[tuple[cst.For, tuple[cst.CSTNode, ...], cst.FunctionDef | None, cst.ClassDef | None]] = []
    for loop, path in collector.loops:
        if _range_call(loop, imports) is None and not _is_epoch_name(loop):
            continue
        function, klass = _enclosing(path)
        class_name = klass.name.value if klass is not None else None
        if not training.reaches([loop.body], class_name):
            continue
        if not (_is_epoch_name(loop) or _has_inner_training(loop, training, class_name)):
            continue
        if any(outer is not loop and outer in path for outer, *_ in candidates):
            continue  # nested in an epoch loop already found
        candidates.append((loop, path, function, klass))
    if not candidates:
        raise SkipFile("no epoch loop found (no `for epoch in range(...)` loop around the training step)")
    named = [c for c in candidates if _is_epoch_name(c[0])]
    if len(candidates) > 1:
        candidates = named
    if len(candidates) != 1:
        raise SkipFile("several epoch loops train; cannot tell which one to prune during")
    loop, path, function, klass = candidates[0]
    if not isinstance(path[-1], (cst.IndentedBlock, cst.Module)):
        raise SkipFile("the epoch loop is not a statement of a block")
    models = _models_for(tree, function, klass, index, imports)
    range_call = _range_call(loop, imports)
    epochs = f"len(range({', '.join(code_of(a.value) for a in range_call.args)}))" if range_call is not None else None
    return EpochLoop(loop, path, function, klass.name.value if klass else None, models, epochs)


def _is_epoch_name(loop: cst.For) -> bool:
    target = loop.target
    if isinstance(target, cst.Tuple) and target.elements:
        target = target.elements[0].value
    return isinstance(target, cst.Name) and "epoch" in target.value.lower()


def rewrite_loop(tree: cst.Module, found: EpochLoop, before: str, first: str, after: str | None) -> cst.Module:
    """``before`` above the loop, ``first`` as the loop body's first statement, ``after`` (if any) below it."""
    block = found.path[-1]
    loop = found.loop
    body = loop.body
    if not isinstance(body, cst.IndentedBlock):
        raise SkipFile("the epoch loop has a one-line body")
    new_body = body.with_changes(body=[cst.parse_statement(first), *body.body])
    new_loop = loop.with_changes(body=new_body, leading_lines=())
    init = cst.parse_statement(before).with_changes(leading_lines=loop.leading_lines)
    statements: list[cst.BaseStatement] = []
    for statement in block.body:
        if statement is loop:
            statements.extend([init, new_loop, *([cst.parse_statement(after)] if after else [])])
        else:
            statements.append(statement)
    return replace_node(tree, found.path, block, block.with_changes(body=statements))


def insert_helper(tree: cst.Module, helper_source: str) -> cst.Module:
    """Put a module-level helper before the first top-level function or class (after the imports
    and constants), or after the last import if there is none."""
    body = list(tree.body)
    position = next((i for i, s in enumerate(body) if isinstance(s, (cst.FunctionDef, cst.ClassDef))), None)
    if position is None:
        anchor = last_import(tree)
        position = body.index(anchor) + 1 if anchor is not None else 0
    # multi-line strings keep their newlines verbatim: follow the file's (CRLF files stay CRLF)
    helper = list(cst.parse_module(helper_source.replace("\n", tree.default_newline)).body)
    helper[0] = helper[0].with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
    following = body[position:]
    if following:
        following[0] = following[0].with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine(), *[
            line for line in following[0].leading_lines if line.comment is not None]])
    return tree.with_changes(body=[*body[:position], *helper, *following])
