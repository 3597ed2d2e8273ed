"""Analysis shared by the experiment-tracking codemods (MLflow and W&B, every framework).

What a tracking codemod needs to know about a script, found without libcst metadata (one pass per
question, over the functions involved only):

- the hyperparameters visible where the run starts (`hyperparameters`): an argparse namespace,
  a config dataclass instance or config dict, module-level UPPER_CASE literal constants, and the
  optimizer's class and literal settings;
- which values are plain Python scalars (`ScalarTypes`), so that only numbers reach ``log_metric``;
- for raw PyTorch, where the training starts and which loops are the epoch (or step) loops, with
  the metrics each already computes (`plan_torch_tracking`);
- a project name derived from the script (`project_name`).

The codemods then render library-specific statements and apply them with `apply_edits` (one pass).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from dataclasses import dataclass, field

import libcst as cst
import libcst.matchers as m
from libcst.codemod import SkipFile
from libcst.helpers import get_full_name_for_node

from ._shared import Imports, Region, Site, fast_visit, find_calls, _is_main_guard

# ----------------------------------------------------------------------------------------------
# small syntax helpers


def code_of(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def simple_statements(block: cst.BaseSuite) -> list[cst.BaseStatement]:
    return list(block.body) if isinstance(block, cst.IndentedBlock) else []


def _assigned_names(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, cst.Name):
        return [target.value]
    if isinstance(target, (cst.Tuple, cst.List)):
        return [name for element in target.elements for name in _assigned_names(element.value)]
    if isinstance(target, cst.StarredElement):
        return _assigned_names(target.value)
    return []


def names_in(node: cst.CSTNode) -> set[str]:
    """Every Name read in an expression (attribute heads included, attribute tails excluded)."""
    found: set[str] = set()

    class _Names(cst.CSTVisitor):
        def visit_Name(self, name: cst.Name) -> None:
            found.add(name.value)

        def visit_Attribute(self, attribute: cst.Attribute) -> bool:
            fast_visit(attribute.value, self)
            return False

        def visit_Arg(self, arg: cst.Arg) -> bool:
            fast_visit(arg.value, self)
            return False

    fast_visit(node, _Names())
    return found


class _Collect(cst.CSTVisitor):
    """Calls and bound names of one scope, not descending into nested functions or classes."""

    def __init__(self) -> None:
        self.calls: list[cst.Call] = []
        self.bound: dict[str, None] = {}  # an ordered set: names in source order

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.bound[node.name.value] = None
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.bound[node.name.value] = None
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_Call(self, node: cst.Call) -> None:
        self.calls.append(node)

    def visit_AssignTarget(self, node: cst.AssignTarget) -> None:
        self.bound.update(dict.fromkeys(_assigned_names(node.target)))

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.bound.update(dict.fromkeys(_assigned_names(node.target)))

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self.bound.update(dict.fromkeys(_assigned_names(node.target)))

    def visit_For(self, node: cst.For) -> None:
        self.bound.update(dict.fromkeys(_assigned_names(node.target)))

    def visit_AsName(self, node: cst.AsName) -> None:
        self.bound.update(dict.fromkeys(_assigned_names(node.name)))

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.bound.update(dict.fromkeys(_assigned_names(node.target)))


def collect(nodes: Sequence[cst.CSTNode]) -> _Collect:
    """Calls and bound names under ``nodes`` (cached: the analyses ask about the same statements
    many times; nodes hash by identity and the cache keeps them alive, so keys stay unique)."""
    return _collect_cached(tuple(nodes))


@lru_cache(maxsize=8192)
def _collect_cached(nodes: tuple[cst.CSTNode, ...]) -> _Collect:
    collector = _Collect()
    for node in nodes:
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            fast_visit(node.body, collector)  # the inside of the scope itself
        else:
            fast_visit(node, collector)
    return collector


def is_backward(call: cst.Call) -> bool:
    return m.matches(call.func, m.Attribute(attr=m.Name("backward")))


# ----------------------------------------------------------------------------------------------
# the module: functions, methods, dataclasses


@dataclass
class ModuleIndex:
    tree: cst.Module
    imports: Imports
    functions: dict[str, cst.FunctionDef]
    methods: dict[str, list[tuple[str, cst.FunctionDef]]]  # method name -> [(class, def)]
    classes: dict[str, cst.ClassDef]
    dataclasses: set[str]
    owner_class: dict[int, str]  # id(method def) -> class name

    @classmethod
    def of(cls, tree: cst.Module, imports: Imports | None = None) -> ModuleIndex:
        imports = imports or Imports.of(tree)
        functions: dict[str, cst.FunctionDef] = {}
        methods: dict[str, list[tuple[str, cst.FunctionDef]]] = {}
        classes: dict[str, cst.ClassDef] = {}
        data: set[str] = set()
        owner: dict[int, str] = {}
        for statement in tree.body:
            if isinstance(statement, cst.FunctionDef):
                functions[statement.name.value] = statement
            elif isinstance(statement, cst.ClassDef):
                name = statement.name.value
                classes[name] = statement
                if any(
                    (get_full_name_for_node(d.decorator.func if isinstance(d.decorator, cst.Call) else d.decorator) or "")
                    .split(".")[-1]
                    == "dataclass"
                    for d in statement.decorators
                ):
                    data.add(name)
                for item in simple_statements(statement.body):
                    if isinstance(item, cst.FunctionDef):
                        methods.setdefault(item.name.value, []).append((name, item))
                        owner[id(item)] = name
        return cls(tree, imports, functions, methods, classes, data, owner)

    def callee(self, call: cst.Call, current_class: str | None) -> cst.FunctionDef | None:
        """The module function or method a call runs, when it can be told from the syntax."""
        func = call.func
        if isinstance(func, cst.Name):
            return self.functions.get(func.value)
        if isinstance(func, cst.Attribute):
            candidates = self.methods.get(func.attr.value, [])
            if m.matches(func.value, m.Name("self")) and current_class:
                return next((d for c, d in candidates if c == current_class), None)
            if len(candidates) == 1 and not m.matches(func.value, m.Name("super")):
                return candidates[0][1]
        return None

    def class_of(self, function: cst.FunctionDef | None) -> str | None:
        return self.owner_class.get(id(function)) if function is not None else None


class Training:
    """Which functions train (call ``.backward()``, directly or through module functions)."""

    def __init__(self, index: ModuleIndex, is_training_call=None) -> None:
        self.index = index
        self._memo: dict[int, bool] = {}
        self.is_training_call = is_training_call or (
            lambda call: is_backward(call) or m.matches(call.func, m.Attribute(attr=m.Name("train_on_batch")))
        )

    def function_trains(self, function: cst.FunctionDef) -> bool:
        key = id(function)
        if key not in self._memo:
            self._memo[key] = False  # recursion guard
            self._memo[key] = self.reaches([function.body], self.index.class_of(function))
        return self._memo[key]

    def reaches(self, nodes: Sequence[cst.CSTNode], current_class: str | None) -> bool:
        for call in collect(nodes).calls:
            if self.is_training_call(call):
                return True
            callee = self.index.callee(call, current_class)
            if callee is not None and self.function_trains(callee):
                return True
        return False

    def training_callees(self, node: cst.CSTNode, current_class: str | None) -> list[cst.FunctionDef]:
        found = []
        for call in collect([node]).calls:
            callee = self.index.callee(call, current_class)
            if callee is not None and callee not in found and self.function_trains(callee):
                found.append(callee)
        return found


# ----------------------------------------------------------------------------------------------
# scalar values: what may be passed to log_metric as is

SKLEARN_SCALAR_METRICS = frozenset(
    f"sklearn.metrics.{name}"
    for name in (
        "accuracy_score balanced_accuracy_score f1_score precision_score recall_score r2_score "
        "mean_squared_error root_mean_squared_error mean_absolute_error median_absolute_error "
        "mean_absolute_percentage_error explained_variance_score max_error roc_auc_score log_loss "
        "matthews_corrcoef cohen_kappa_score jaccard_score hamming_loss zero_one_loss "
        "average_precision_score brier_score_loss d2_absolute_error_score silhouette_score "
        "adjusted_rand_score normalized_mutual_info_score"
    ).split()
)
_COUNT_METHODS = ("size", "numel", "__len__", "dim")
_SCALAR_FUNCTIONS = ("float", "int", "round", "abs", "max", "min")
_NUMPY_REDUCTIONS = tuple(f"numpy.{n}" for n in ("mean", "sum", "std", "median", "min", "max", "average", "nanmean"))


class ScalarTypes:
    """Names of one scope (a function or the module's statements) that always hold a Python
    number, and the return kinds of the module's functions (a scalar, or a tuple of scalars)."""

    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self._returns: dict[int, tuple[bool, ...] | bool | None] = {}
        self._envs: dict[int, frozenset[str]] = {}

    # scope environments -------------------------------------------------------------------
    def env(self, scope: cst.FunctionDef | cst.Module) -> frozenset[str]:
        key = id(scope)
        if key not in self._envs:
            self._envs[key] = frozenset()  # recursion guard
            self._envs[key] = self._compute_env(scope)
        return self._envs[key]

    def _compute_env(self, scope: cst.FunctionDef | cst.Module) -> frozenset[str]:
        current_class = self.index.class_of(scope) if isinstance(scope, cst.FunctionDef) else None
        bindings: dict[str, list[object]] = {}  # name -> RHS expressions, or None when unknowable
        statements = (
            [s for s in scope.body if not isinstance(s, (cst.FunctionDef, cst.ClassDef))]
            if isinstance(scope, cst.Module)
            else [scope.body]
        )

        class _Bindings(cst.CSTVisitor):
            def visit_FunctionDef(self, node):
                return False

            def visit_ClassDef(self, node):
                return False

            def visit_Assign(self, node: cst.Assign) -> None:
                for target in node.targets:
                    _bind(target.target, node.value)

            def visit_AugAssign(self, node: cst.AugAssign) -> None:
                for name in _assigned_names(node.target):
                    bindings.setdefault(name, []).append(("aug", node.value))

            def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
                for name in _assigned_names(node.target):
                    bindings.setdefault(name, []).append(node.value)

            def visit_For(self, node: cst.For) -> None:
                for name in _assigned_names(node.target):
                    bindings.setdefault(name, []).append(None)

            def visit_AsName(self, node: cst.AsName) -> None:
                for name in _assigned_names(node.name):
                    bindings.setdefault(name, []).append(None)

        def _bind(target: cst.BaseExpression, value: cst.BaseExpression | None) -> None:
            if isinstance(target, cst.Name):
                bindings.setdefault(target.value, []).append(value)
            elif isinstance(target, (cst.Tuple, cst.List)):
                elements = [e.value for e in target.elements]
                if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(elements):
                    for element, item in zip(elements, value.elements):
                        _bind(element, item.value)
                elif isinstance(value, cst.Call):
                    for position, element in enumerate(elements):
                        for name in _assigned_names(element):
                            bindings.setdefault(name, []).append(("item", value, position, len(elements)))
                else:
                    for element in elements:
                        for name in _assigned_names(element):
                            bindings.setdefault(name, []).append(None)

        for statement in statements:
            fast_visit(statement, _Bindings())
        if isinstance(scope, cst.FunctionDef):
            for param in (*scope.params.posonly_params, *scope.params.params, *scope.params.kwonly_params):
                annotation = param.annotation and get_full_name_for_node(param.annotation.annotation)
                bindings.setdefault(param.name.value, []).append(("param", annotation))

        scalars = set(bindings)
        changed = True
        while changed:  # greatest fixpoint: drop names with a binding that is not a number
            changed = False
            for name in sorted(scalars):
                if not all(self._binding_is_scalar(b, scalars, current_class) for b in bindings[name]):
                    scalars.discard(name)
                    changed = True
        return frozenset(scalars)

    def _binding_is_scalar(self, binding: object, env: set[str], current_class: str | None) -> bool:
        if binding is None:
            return False
        if isinstance(binding, tuple):
            kind = binding[0]
            if kind == "aug":
                return self.is_scalar(binding[1], env, current_class, weak=True)
            if kind == "param":
                return binding[1] in ("float", "int")
            if kind == "item":
                _, call, position, size = binding
                kinds = self.returns(call, current_class)
                return isinstance(kinds, tuple) and len(kinds) == size and kinds[position]
        return isinstance(binding, cst.BaseExpression) and self.is_scalar(binding, env, current_class, weak=True)

    # expressions ---------------------------------------------------------------------------
    def is_scalar(self, expr: cst.BaseExpression, env: set[str] | frozenset[str], current_class: str | None, *, weak: bool = False) -> bool:
        """True when ``expr`` evaluates to a Python/numpy number. ``weak`` admits literals and
        counts (``len(x)``, ``x.size(0)``): fine for an accumulator's start, not worth logging."""
        if isinstance(expr, (cst.Integer, cst.Float)):
            return weak
        if isinstance(expr, cst.UnaryOperation):
            return self.is_scalar(expr.expression, env, current_class, weak=weak)
        if isinstance(expr, cst.Name):
            return expr.value in env
        if isinstance(expr, cst.Attribute) and expr.attr.value in ("best_score_", "oob_score_"):
            return True
        if isinstance(expr, cst.BinaryOperation):
            left = self.is_scalar(expr.left, env, current_class)
            right = self.is_scalar(expr.right, env, current_class)
            if left and right:
                return True
            if left or right or weak:
                other = expr.right if left else expr.left
                if not (left or right):
                    return self._is_count(expr.left, env, current_class) and self._is_count(expr.right, env, current_class)
                return self._is_count(other, env, current_class)
            return False
        if isinstance(expr, cst.IfExp):
            body, orelse = (self.is_scalar(e, env, current_class, weak=True) for e in (expr.body, expr.orelse))
            return body and orelse and (weak or self.is_scalar(expr.body, env, current_class) or self.is_scalar(expr.orelse, env, current_class))
        if isinstance(expr, cst.Call):
            if weak and self._is_count(expr, env, current_class):
                return True
            return self._call_is_scalar(expr, env, current_class, weak=weak)
        return False

    def _is_count(self, expr: cst.BaseExpression, env, current_class) -> bool:
        """A number that is not itself a metric: literals, sizes, lengths, plain attributes."""
        if isinstance(expr, (cst.Integer, cst.Float)):
            return True
        if isinstance(expr, cst.Name):
            return expr.value in env
        if isinstance(expr, cst.Attribute):
            return True  # args.batch_size, self.count: config values and counters
        if isinstance(expr, cst.UnaryOperation):
            return self._is_count(expr.expression, env, current_class)
        if isinstance(expr, cst.BinaryOperation):
            return self._is_count(expr.left, env, current_class) and self._is_count(expr.right, env, current_class)
        if isinstance(expr, cst.Subscript) and m.matches(expr.value, m.Attribute(attr=m.Name("shape"))):
            return True
        if isinstance(expr, cst.Call):
            if m.matches(expr.func, m.Name("len")):
                return True
            if m.matches(expr.func, m.Attribute(attr=m.OneOf(*(m.Name(n) for n in _COUNT_METHODS)))):
                return True
            if m.matches(expr.func, m.Name(m.MatchIfTrue(lambda n: n in ("max", "min", "int", "float")))):
                return all(self._is_count(a.value, env, current_class) for a in expr.args)
            return self.is_scalar(expr, env, current_class)
        return False

    def _call_is_scalar(self, call: cst.Call, env, current_class, *, weak: bool) -> bool:
        func = call.func
        if m.matches(func, m.Attribute(attr=m.Name("item"))) and not call.args:
            return True
        if isinstance(func, cst.Name) and func.value in _SCALAR_FUNCTIONS and func.value not in self.index.functions:
            if func.value in ("float", "int"):
                return len(call.args) == 1
            if func.value in ("max", "min", "round", "abs"):
                return bool(call.args) and all(
                    self.is_scalar(a.value, env, current_class, weak=True) for a in call.args if not a.star
                ) and any(self.is_scalar(a.value, env, current_class) for a in call.args) or (
                    weak and all(self._is_count(a.value, env, current_class) for a in call.args)
                )
        if m.matches(func, m.Name("sum")) and len(call.args) == 1 and "sum" not in self.index.functions:
            generated = call.args[0].value
            if isinstance(generated, (cst.GeneratorExp, cst.ListComp)):
                return self.is_scalar(generated.elt, env, current_class)
        qualified = self.index.imports.qualified(func) or ""
        if qualified in SKLEARN_SCALAR_METRICS:
            return not any(
                arg.keyword and arg.keyword.value in ("average", "multioutput") and not isinstance(arg.value, cst.SimpleString)
                for arg in call.args
            )
        if m.matches(func, m.Attribute(attr=m.Name("score"))) and len(call.args) >= 1 and self.index.imports.uses("sklearn"):
            return True
        if qualified.startswith("math.") and qualified not in ("math.pi", "math.e"):
            return True
        if qualified in _NUMPY_REDUCTIONS or qualified.startswith("statistics."):
            return not any(a.keyword and a.keyword.value == "axis" for a in call.args)
        kinds = self.returns(call, current_class)
        return kinds is True

    def returns(self, call: cst.Call, current_class: str | None) -> tuple[bool, ...] | bool | None:
        function = self.index.callee(call, current_class)
        if function is None:
            return None
        key = id(function)
        if key not in self._returns:
            self._returns[key] = None  # recursion guard
            self._returns[key] = self._return_kinds(function)
        return self._returns[key]

    def _return_kinds(self, function: cst.FunctionDef) -> tuple[bool, ...] | bool | None:
        env = self.env(function)
        current_class = self.index.class_of(function)
        values: list[cst.BaseExpression] = []

        class _Returns(cst.CSTVisitor):
            def visit_FunctionDef(self, node):
                return node is function

            def visit_Lambda(self, node):
                return False

            def visit_Return(self, node: cst.Return) -> None:
                values.append(node.value)

        fast_visit(function, _Returns())
        if not values or any(v is None for v in values):
            return None
        if all(_is_metrics_dict(value) for value in values):
            return "dict"
        kinds: list[tuple[bool, ...] | bool] = []
        for value in values:
            if isinstance(value, cst.Tuple):
                kinds.append(tuple(self.is_scalar(e.value, env, current_class) for e in value.elements))
            else:
                kinds.append(self.is_scalar(value, env, current_class))
        first = kinds[0]
        if all(k == first for k in kinds):
            return first
        return None


# ----------------------------------------------------------------------------------------------
# hyperparameters visible where the run starts

_CONFIG_NAMES = re.compile(r"^(config|cfg|conf|hparams|hyperparameters|hyperparams|params|settings|opts?|options|hp)$", re.I)
_CONSTANT = re.compile(r"^_?[A-Z][A-Z0-9_]*$")


@dataclass
class Hyperparameters:
    """Pieces of one dict display: ``**vars(args)``, ``"lr": LR`` ..."""

    spreads: list[str] = field(default_factory=list)  # expressions of mappings
    items: list[tuple[str, str]] = field(default_factory=list)  # (key, expression)
    needs_dataclasses: bool = False

    def __bool__(self) -> bool:
        return bool(self.spreads or self.items)

    def add_item(self, key: str, expression: str) -> None:
        if key not in {k for k, _ in self.items}:
            self.items.append((key, expression))

    def dict_expression(self, indent: str = "") -> str:
        """``vars(args)`` alone, or a dict display (one entry a line when long)."""
        if len(self.spreads) == 1 and not self.items:
            only = self.spreads[0]
            return only if only.startswith(("vars(", "dataclasses.asdict(")) else f"dict({only})"
        entries = [f"**{s}" for s in self.spreads] + [f'"{k}": {v}' for k, v in self.items]
        one_line = "{" + ", ".join(entries) + "}"
        if len(one_line) + len(indent) <= 72:
            return one_line
        inner = "".join(f"\n{indent}    {entry}," for entry in entries)
        return "{" + inner + f"\n{indent}}}"


def _module_scope_statements(tree: cst.Module) -> Iterator[cst.BaseStatement]:
    for statement in tree.body:
        if _is_main_guard(statement) and isinstance(statement.body, cst.IndentedBlock):
            yield from statement.body.body
        else:
            yield statement


def _call_target(statement: cst.BaseStatement) -> tuple[str, cst.BaseExpression] | None:
    """``name = <value>`` as (name, value)."""
    if (
        isinstance(statement, cst.SimpleStatementLine)
        and len(statement.body) == 1
        and isinstance(statement.body[0], (cst.Assign, cst.AnnAssign))
    ):
        small = statement.body[0]
        target = small.targets[0].target if isinstance(small, cst.Assign) and len(small.targets) == 1 else getattr(small, "target", None)
        if isinstance(small, cst.Assign) and len(small.targets) != 1:
            return None
        if isinstance(target, cst.Name) and small.value is not None:
            return target.value, small.value
    return None


class HyperparameterFinder:
    def __init__(self, index: ModuleIndex) -> None:
        self.index = index

    # what a call produces --------------------------------------------------------------
    def _produces(self, value: cst.BaseExpression, depth: int = 0) -> str | None:
        """"namespace", "dataclass", "dict" or None for the value bound to a name."""
        if isinstance(value, cst.Dict) and value.elements and all(
            isinstance(e, cst.DictElement) and isinstance(e.key, cst.SimpleString) for e in value.elements
        ):
            return "dict"
        if not isinstance(value, cst.Call):
            return None
        func = value.func
        if m.matches(func, m.Attribute(attr=m.Name("parse_args"))):
            return "namespace"
        if isinstance(func, cst.Name):
            if func.value in self.index.dataclasses:
                return "dataclass"
            if func.value == "dict" and value.args and (all(a.keyword for a in value.args) or len(value.args) == 1):
                return "dict"
            function = self.index.functions.get(func.value)
            if function is not None and depth < 3:
                return self._function_produces(function, depth + 1)
        return None

    def _function_produces(self, function: cst.FunctionDef, depth: int) -> str | None:
        if function.returns is not None:
            annotation = get_full_name_for_node(function.returns.annotation) or ""
            if annotation.split(".")[-1] in self.index.dataclasses:
                return "dataclass"
            if annotation in ("argparse.Namespace", "Namespace"):
                return "namespace"
        local: dict[str, cst.BaseExpression] = {}
        for statement in simple_statements(function.body):
            target = _call_target(statement)
            if target:
                local[target[0]] = target[1]
            if isinstance(statement, cst.SimpleStatementLine) and isinstance(statement.body[0], cst.Return):
                value = statement.body[0].value
                if isinstance(value, cst.Name) and value.value in local:
                    value = local[value.value]
                return self._produces(value, depth) if value is not None else None
        return None

    # which ones are visible where the run starts -----------------------------------------
    def find(self, region: Region, *, optimizer: bool = True) -> Hyperparameters:
        found = Hyperparameters()
        visible = self._visible_bindings(region)
        for name, kind in visible.items():
            if kind == "namespace":
                found.spreads.append(f"vars({name})")
            elif kind == "dataclass":
                found.spreads.append(f"dataclasses.asdict({name})")
                found.needs_dataclasses = True
            elif kind == "dict":
                found.spreads.append(name)
        shadowed = self._locally_bound(region)
        for name, value in self._constants(region).items():
            if name not in shadowed:
                found.add_item(name.lower().lstrip("_"), name)
        if optimizer:
            self._optimizer_settings(found, region, shadowed)
        return found

    def _visible_bindings(self, region: Region) -> dict[str, str]:
        """Names bound before the run starts (in its scope, or as parameters of its function)
        to an argparse namespace, a config dataclass or a config dict."""
        kinds: dict[str, str] = {}
        before = list(region.owner.body)[: region.index]
        if isinstance(region.owner, cst.IndentedBlock) and region.function is None:
            # the body of `if __name__ == "__main__":`: module statements before it count too
            before = [s for s in self.index.tree.body if not _is_main_guard(s)] + before
        for statement in before:
            target = _call_target(statement)
            if target:
                kind = self._produces(target[1])
                if kind == "dict" and not _CONFIG_NAMES.match(target[0]):
                    continue
                if kind:
                    kinds[target[0]] = kind
                elif target[0] in kinds:
                    del kinds[target[0]]
        if region.function is not None:
            for name, kind in self._parameter_kinds(region.function).items():
                kinds.setdefault(name, kind)
        return kinds

    def _parameter_kinds(self, function: cst.FunctionDef) -> dict[str, str]:
        """Parameters that hold hyperparameters: by annotation, by the name callers bind such a
        value to, or a config-like name read with string keys (``config["lr"]``)."""
        kinds: dict[str, str] = {}
        anywhere = self._bindings_anywhere()
        for param in (*function.params.params, *function.params.kwonly_params):
            name = param.name.value
            if name == "self":
                continue
            annotation = get_full_name_for_node(param.annotation.annotation) if param.annotation else None
            if annotation in ("argparse.Namespace", "Namespace"):
                kinds[name] = "namespace"
            elif annotation and annotation.split(".")[-1] in self.index.dataclasses:
                kinds[name] = "dataclass"
            elif annotation in ("dict", "Dict") and _CONFIG_NAMES.match(name):
                kinds[name] = "dict"
            elif name in anywhere and annotation is None:
                kinds[name] = anywhere[name]
            elif _CONFIG_NAMES.match(name) and _read_with_string_keys(function.body, name):
                kinds[name] = "dict"
        return kinds

    def _bindings_anywhere(self) -> dict[str, str]:
        kinds: dict[str, str] = {}
        scopes: list[Sequence[cst.BaseStatement]] = [list(_module_scope_statements(self.index.tree))]
        scopes += [simple_statements(f.body) for f in self.index.functions.values()]
        for statements in scopes:
            for statement in statements:
                target = _call_target(statement)
                if target:
                    kind = self._produces(target[1])
                    if kind and (kind != "dict" or _CONFIG_NAMES.match(target[0])):
                        kinds.setdefault(target[0], kind)
        return kinds

    def _locally_bound(self, region: Region) -> set[str]:
        if region.function is None:
            return set()
        from ._shared import parameters

        return set(collect([region.function]).bound) | parameters(region.function)

    def _constants(self, region: Region) -> dict[str, str]:
        """Module-level ``NAME = <literal>`` assigned before the run starts."""
        constants: dict[str, str] = {}
        module_level = isinstance(region.owner, cst.Module)
        assignments: dict[str, int] = {}
        for statement in _module_scope_statements(self.index.tree):
            if not isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
                for name in collect([statement]).bound:
                    assignments[name] = assignments.get(name, 0) + 1
        for position, statement in enumerate(self.index.tree.body):
            if module_level and position >= region.index:
                break
            for name, value in _literal_assignments(statement):
                if _CONSTANT.match(name) or (
                    assignments.get(name) == 1 and isinstance(value, (cst.Integer, cst.Float)) and not name.startswith("_")
                ):
                    constants[name] = code_of(value)
        return constants

    def _optimizer_settings(self, found: Hyperparameters, region: Region, shadowed: set[str]) -> None:
        """The optimizer class and its literal keyword settings (``lr=1e-3``)."""
        optimizers: list[cst.Call] = []

        class _Optimizers(cst.CSTVisitor):
            def visit_Call(inner, node: cst.Call) -> None:
                qualified = self.index.imports.qualified(node.func) or ""
                if qualified.startswith("torch.optim.") and ".lr_scheduler" not in qualified and qualified.count(".") == 2:
                    optimizers.append(node)
                elif qualified.startswith(("keras.optimizers.", "tensorflow.keras.optimizers.")) and qualified.split(".")[-1][:1].isupper():
                    optimizers.append(node)

        fast_visit(self.index.tree, _Optimizers())
        kinds = {get_full_name_for_node(o.func).split(".")[-1] for o in optimizers}
        if len(kinds) == 1:
            found.add_item("optimizer", f'"{kinds.pop()}"')
        for optimizer in optimizers[:1] if len(optimizers) == 1 else []:
            for arg in optimizer.args:
                if arg.keyword and _is_literal(arg.value):
                    found.add_item(arg.keyword.value, code_of(arg.value))


def _literal_assignments(statement: cst.BaseStatement) -> list[tuple[str, cst.BaseExpression]]:
    """``NAME = 1`` and ``a, b = 1, 2`` at module level, with literal values."""
    if not (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1):
        return []
    small = statement.body[0]
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return []
    target, value = small.targets[0].target, small.value
    if isinstance(target, cst.Name):
        return [(target.value, value)] if _is_literal(value) else []
    if isinstance(target, cst.Tuple) and isinstance(value, cst.Tuple) and len(target.elements) == len(value.elements):
        return [
            (t.value.value, v.value)
            for t, v in zip(target.elements, value.elements)
            if isinstance(t.value, cst.Name) and _is_literal(v.value)
        ]
    return []


def _is_metrics_dict(value: cst.BaseExpression) -> bool:
    """``{"val_loss": losses.avg, "val_acc": acc}``: string keys, no nested containers or text."""
    return (
        isinstance(value, cst.Dict)
        and bool(value.elements)
        and all(
            isinstance(e, cst.DictElement)
            and isinstance(e.key, cst.SimpleString)
            and not isinstance(e.value, (cst.SimpleString, cst.FormattedString, cst.List, cst.Dict, cst.Tuple, cst.Set))
            and not m.matches(e.value, m.Name(m.MatchIfTrue(lambda n: n in ("None", "True", "False"))))
            for e in value.elements
        )
    )


def _is_literal(value: cst.BaseExpression) -> bool:
    if isinstance(value, (cst.Integer, cst.Float, cst.SimpleString)):
        return not (isinstance(value, cst.SimpleString) and len(value.value) > 200)
    if isinstance(value, cst.Name):
        return value.value in ("True", "False")
    if isinstance(value, cst.UnaryOperation):
        return isinstance(value.expression, (cst.Integer, cst.Float))
    if isinstance(value, cst.BinaryOperation):
        return _is_literal(value.left) and _is_literal(value.right) and not isinstance(value.left, cst.SimpleString)
    if isinstance(value, cst.Tuple):
        return bool(value.elements) and all(
            isinstance(e.value, (cst.Integer, cst.Float)) or _is_literal(e.value) for e in value.elements
        )
    return False


def _read_with_string_keys(node: cst.CSTNode, name: str) -> bool:
    matcher = m.Subscript(value=m.Name(name), slice=[m.SubscriptElement(slice=m.Index(value=m.SimpleString()))])
    return bool(m.findall(node, matcher))


# ----------------------------------------------------------------------------------------------
# project names


def project_name(tree: cst.Module, filename: str | None) -> str:
    """A W&B project name: the file's name (its folder's for generic names like ``train.py``),
    else the module docstring's first words, else ``"training"``."""
    import os

    if filename:
        stem = os.path.splitext(os.path.basename(filename))[0]
        if stem.lower() in ("train", "main", "run", "script", "training", "__main__", "model"):
            stem = os.path.basename(os.path.dirname(os.path.abspath(filename))) or stem
        slug = _slug(stem)
        if slug:
            return slug
    docstring = tree.get_docstring()
    if docstring:
        words = [w for w in re.findall(r"[A-Za-z][A-Za-z0-9]*", docstring.splitlines()[0]) if w.lower() not in _STOPWORDS]
        slug = _slug("-".join(words[:4]))
        if slug:
            return slug
    return "training"


_STOPWORDS = frozenset("a an the of on in with for to and by from using train trains training small tiny".split())


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64]


# ----------------------------------------------------------------------------------------------
# metrics

_METRIC_NAME = re.compile(
    r"loss|acc|err|ppl|perplex|f1|auc|score|metric|mse|mae|rmse|psnr|ssim|reward|return|dist|kl|nll|bce|recon|"
    r"precision|recall|iou|dice|bleu|elbo|likelihood|cost|fid|r2|stats|metrics",
    re.I,
)


def is_metric_name(name: str) -> bool:
    lowered = name.lower()
    if lowered.startswith(("n_", "num_", "best_epoch")) or lowered in ("returns",):
        return False
    return bool(_METRIC_NAME.search(name))


def singular(name: str) -> str:
    if name.endswith("sses"):
        return name[:-2]
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith("s") and not name.endswith("ss"):
        return name[:-1]
    return name


@dataclass
class MetricLog:
    """Log ``values`` (metric name -> expression) right after ``anchor`` (a statement)."""

    anchor: cst.BaseStatement
    values: dict[str, str]
    step: str | None  # the loop counter, or None after the training


# ----------------------------------------------------------------------------------------------
# applying edits in one pass


class _Apply(cst.CSTTransformer):
    def __init__(
        self,
        after: dict[int, list[cst.BaseStatement]],
        wrap: tuple[int, int, list[cst.BaseStatement], cst.With] | None,
        replace: dict[int, cst.CSTNode],
    ) -> None:
        super().__init__()
        self.after = after
        self.wrap = wrap  # (id(owner), id(first wrapped statement), statements before, with shell)
        self.replace = replace
        self.updated: dict[int, cst.CSTNode] = {}

    on_path: set[int] | None = None

    def on_visit(self, node: cst.CSTNode) -> bool:
        return self.on_path is None or id(node) in self.on_path

    def on_leave(self, original_node, updated_node):
        updated_node = super().on_leave(original_node, updated_node)
        key = id(original_node)
        if key in self.replace:
            updated_node = self.replace[key]
        if self.wrap is not None and key == self.wrap[0]:
            updated_node = self._wrap(updated_node)
        self.updated[key] = updated_node
        if key in self.after and isinstance(original_node, cst.BaseStatement):
            return cst.FlattenSentinel([updated_node, *self.after[key]])
        return updated_node

    def _wrap(self, owner):
        _, first_key, before, shell = self.wrap
        first = self.updated[first_key]
        body = list(owner.body)
        index = next(i for i, s in enumerate(body) if s is first)
        head, tail = body[:index], body[index:]
        leading = tail[0].leading_lines
        tail[0] = tail[0].with_changes(leading_lines=())
        tail = [_without_blank_indents(s) for s in tail]
        inner = [*shell.body.body, *tail]
        with_statement = shell.with_changes(body=shell.body.with_changes(body=inner))
        new = [*before, with_statement]
        new[0] = new[0].with_changes(leading_lines=leading)
        return owner.with_changes(body=[*head, *new])


def _without_blank_indents(statement: cst.BaseStatement) -> cst.BaseStatement:
    """Blank lines moved into a block stay empty (no trailing indentation)."""
    lines = [line.with_changes(indent=False) if line.comment is None else line for line in statement.leading_lines]
    return statement.with_changes(leading_lines=lines)


def apply_edits(
    tree: cst.Module,
    *,
    after: dict[int, list[str | cst.BaseStatement]] | None = None,
    region: Region | None = None,
    before: Sequence[str] = (),
    with_item: str | None = None,
    first: Sequence[str] = (),
    replace: dict[int, cst.CSTNode] | None = None,
) -> cst.Module:
    """Insert statements after given statements (by id), replace nodes (by id), and put the tail
    ``region.owner.body[region.index:]`` into ``with <with_item>:`` preceded by ``before`` and
    starting with ``first``, all in one pass."""
    parsed_after = {
        key: [cst.parse_statement(code) if isinstance(code, str) else code for code in codes]
        for key, codes in (after or {}).items()
    }
    wrap = None
    if region is not None and with_item is not None:
        shell = cst.parse_statement(f"with {with_item}:\n    pass\n")
        assert isinstance(shell, cst.With)
        shell = shell.with_changes(body=shell.body.with_changes(body=[cst.parse_statement(c) for c in first]))
        first_statement = list(region.owner.body)[region.index]
        wrap = (id(region.owner), id(first_statement), [cst.parse_statement(c) for c in before], shell)
    targets = set(parsed_after) | set(replace or {}) | ({wrap[0], wrap[1]} if wrap else set())
    transformer = _Apply(parsed_after, wrap, replace or {})
    transformer.on_path = _ancestors(tree, targets)
    return tree.visit(transformer)


class _AncestorFinder(cst.CSTVisitor):
    def __init__(self, targets: set[int]) -> None:
        self.targets = targets
        self.stack: list[int] = []
        self.found: set[int] = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.stack.append(id(node))
        if id(node) in self.targets:
            self.found.update(self.stack)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()


def _ancestors(tree: cst.Module, targets: set[int]) -> set[int]:
    """The edited nodes and every node above them: the only ones the edit pass must enter."""
    finder = _AncestorFinder(targets)
    fast_visit(tree, finder)
    return finder.found


def statement_region(tree: cst.Module, owner: cst.Module | cst.IndentedBlock, statement: cst.BaseStatement, function: cst.FunctionDef | None) -> Region:
    return Region(owner, list(owner.body).index(statement), function, (tree,))


# ----------------------------------------------------------------------------------------------
# raw PyTorch: where the training starts, its epoch loops and the metrics they compute


@dataclass
class TorchPlan:
    region: Region  # the run wraps owner.body[index:]
    hyperparameters: Hyperparameters
    epoch_logs: list[MetricLog]
    final_logs: list[MetricLog]


@dataclass
class _Scope:
    owner: cst.Module | cst.IndentedBlock
    statements: list[cst.BaseStatement]
    function: cst.FunctionDef | None


def _entry_scope(tree: cst.Module, training: Training) -> _Scope:
    for statement in tree.body:
        if _is_main_guard(statement) and isinstance(statement.body, cst.IndentedBlock):
            if training.reaches([statement.body], None):
                return _Scope(statement.body, list(statement.body.body), None)
    statements = [s for s in tree.body if not isinstance(s, (cst.FunctionDef, cst.ClassDef))]
    return _Scope(tree, list(tree.body), None) if statements else _Scope(tree, [], None)


def _called_function(statement: cst.BaseStatement, index: ModuleIndex) -> cst.FunctionDef | None:
    """``f(...)``, ``x = f(...)``, ``return f(...)`` or ``sys.exit(f(...))`` on a module function."""
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    small = statement.body[0]
    value = getattr(small, "value", None)
    if isinstance(value, cst.Call) and len(value.args) == 1 and isinstance(value.args[0].value, cst.Call):
        if not isinstance(value.func, cst.Name) or value.func.value not in index.functions:
            value = value.args[0].value  # sys.exit(main())
    if isinstance(value, cst.Call) and isinstance(value.func, cst.Name):
        function = index.functions.get(value.func.value)
        if function is not None and isinstance(function.body, cst.IndentedBlock):
            return function
    return None


def _loop_step(loop: cst.For | cst.While) -> str | None:
    """The counter a loop advances: ``for epoch in ...``, ``for i, batch in enumerate(...)``,
    or a name incremented by one in a ``while`` loop's body."""
    if isinstance(loop, cst.For):
        if isinstance(loop.target, cst.Name):
            return loop.target.value
        if (
            isinstance(loop.target, cst.Tuple)
            and m.matches(loop.iter, m.Call(func=m.Name("enumerate")))
            and isinstance(loop.target.elements[0].value, cst.Name)
        ):
            return loop.target.elements[0].value.value
        return None
    for statement in simple_statements(loop.body):
        if m.matches(
            statement,
            m.SimpleStatementLine(body=[m.AugAssign(target=m.Name(), operator=m.AddAssign(), value=m.Integer("1"))]),
        ):
            return statement.body[0].target.value
    return None


def _blocks_of(statement: cst.BaseStatement) -> list[cst.IndentedBlock]:
    """The blocks of a compound statement that run at most once per pass (not loop bodies)."""
    blocks: list[cst.BaseSuite] = []
    if isinstance(statement, cst.If):
        blocks.append(statement.body)
        orelse = statement.orelse
        while orelse is not None:
            blocks.append(orelse.body)
            orelse = orelse.orelse if isinstance(orelse, cst.If) else None
    elif isinstance(statement, cst.With):
        blocks.append(statement.body)
    elif isinstance(statement, cst.Try):
        blocks.append(statement.body)
        blocks.extend(h.body for h in statement.handlers)
        if statement.orelse:
            blocks.append(statement.orelse.body)
        if statement.finalbody:
            blocks.append(statement.finalbody.body)
    return [b for b in blocks if isinstance(b, cst.IndentedBlock)]


def _flat(statements: Sequence[cst.BaseStatement]) -> Iterator[tuple[cst.BaseStatement, bool]]:
    """Statements in source order at this level and in once-per-pass blocks; each with a flag
    saying whether it is a loop (whose inside is not walked)."""
    for statement in statements:
        if isinstance(statement, (cst.For, cst.While)):
            yield statement, True
            continue
        yield statement, False
        for block in _blocks_of(statement):
            yield from _flat(block.body)


def _assigned_by(statement: cst.CSTNode) -> list[str]:
    return list(collect([statement]).bound)


def _backward_names(nodes: Sequence[cst.CSTNode]) -> set[str]:
    return {
        call.func.value.value
        for call in collect(nodes).calls
        if is_backward(call) and isinstance(call.func, cst.Attribute) and isinstance(call.func.value, cst.Name)
    }


class _MetricFinder:
    def __init__(self, index: ModuleIndex, scalars: ScalarTypes, scope: cst.FunctionDef | cst.Module) -> None:
        self.index = index
        self.scalars = scalars
        self.scope = scope
        self.env = scalars.env(scope)
        self.current_class = index.class_of(scope) if isinstance(scope, cst.FunctionDef) else None
        self.backward = _backward_names([scope.body] if isinstance(scope, cst.FunctionDef) else [
            s for s in scope.body if not isinstance(s, (cst.FunctionDef, cst.ClassDef))
        ])

    def _value_of(self, name: str, statement: cst.BaseStatement) -> str | None:
        """How to log ``name`` right after ``statement`` assigned it (None: not a number)."""
        if name in self.backward:
            return f"{name}.item()"
        if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
            return None
        small = statement.body[0]
        if isinstance(small, cst.AugAssign):
            return name if name in self.env else None
        if isinstance(small, cst.Assign) and len(small.targets) == 1:
            target, value = small.targets[0].target, small.value
            if isinstance(target, cst.Name):
                if isinstance(value, cst.Call) and self.scalars.returns(value, self.current_class) == "dict":
                    return f"**{name}"
                return name if self.scalars.is_scalar(value, self.env, self.current_class) else None
            if isinstance(target, cst.Tuple):
                names = [e.value.value if isinstance(e.value, cst.Name) else None for e in target.elements]
                position = names.index(name)
                if isinstance(value, cst.Tuple) and len(value.elements) == len(names):
                    element = value.elements[position].value
                    return name if self.scalars.is_scalar(element, self.env, self.current_class) else None
                if isinstance(value, cst.Call):
                    kinds = self.scalars.returns(value, self.current_class)
                    return name if isinstance(kinds, tuple) and len(kinds) == len(names) and kinds[position] else None
        return None

    def in_block(self, statements: Sequence[cst.BaseStatement], step: str | None, *, inner_loops: bool) -> list[MetricLog]:
        """Metrics assigned at this level (and in if/with/try blocks), logged after their last
        assignment; with ``inner_loops``, also values left by an inner loop, logged after it."""
        flat = list(_flat(statements))
        everything = [(s, _assigned_by(s)) for s, _ in flat]
        logs: dict[int, MetricLog] = {}
        for position, (statement, is_loop) in enumerate(flat):
            if not is_loop and not isinstance(statement, cst.SimpleStatementLine):
                continue  # if/with/try: their statements come next in `flat`
            later = set().union(*(names for _, names in everything[position + 1 :])) if position + 1 < len(everything) else set()
            if is_loop:
                if not inner_loops:
                    continue
                candidates = list(n for n in _assigned_by(statement) if is_metric_name(n) and n not in later)
                values = {n: (f"{n}.item()" if n in self.backward else n) for n in candidates if n in self.backward or n in self.env}
            else:
                values = {}
                for name in _assigned_by(statement):
                    if name in later or not is_metric_name(name) or (step and name == step):
                        continue
                    value = self._value_of(name, statement)
                    if value is not None and value.startswith("**"):
                        values[value] = name
                    elif value is not None:
                        values[name] = value
                values.update(self._appended(statement))
                values.update(self._dict_items(statement, later))
            if values:
                logs[id(statement)] = MetricLog(statement, values, step)
        found = list(logs.values())
        computed = [log for log in found if any(not v.endswith(".item()") for v in log.values.values())]
        if computed and not inner_loops:
            # the script computes its own metrics: log those, not every step's raw loss tensor
            found = [
                MetricLog(log.anchor, {k: v for k, v in log.values.items() if not v.endswith(".item()")}, log.step)
                for log in computed
            ]
        return found

    def _dict_items(self, statement: cst.BaseStatement, later: set[str]) -> dict[str, str]:
        """``stats = {"val_loss": <number>, ...}`` (or ``results[k] = {...}``): its metric entries."""
        if not m.matches(statement, m.SimpleStatementLine(body=[m.Assign(targets=[m.AssignTarget()], value=m.Dict())])):
            return {}
        assign = statement.body[0]
        target = assign.targets[0].target
        if not isinstance(target, (cst.Name, cst.Subscript)) or (isinstance(target, cst.Name) and target.value in later):
            return {}
        if isinstance(target, cst.Subscript) and names_in(target) & set(later):
            return {}
        values = {}
        for element in assign.value.elements:
            if not (isinstance(element, cst.DictElement) and isinstance(element.key, cst.SimpleString)):
                continue
            key = element.key.evaluated_value
            if isinstance(element.value, cst.Name):
                continue  # a variable: logged where it is computed
            if isinstance(key, str) and is_metric_name(key) and self.scalars.is_scalar(element.value, self.env, self.current_class):
                values[key] = f"{code_of(target)}[{element.key.value}]"
        return values

    def _appended(self, statement: cst.BaseStatement) -> dict[str, str]:
        """``losses.append(<number>)`` -> ``{"loss": losses[-1]}``."""
        matcher = m.SimpleStatementLine(
            body=[m.Expr(m.Call(func=m.Attribute(value=m.Name(), attr=m.Name("append")), args=[m.Arg()]))]
        )
        if not m.matches(statement, matcher):
            return {}
        call = statement.body[0].value
        name = call.func.value.value
        if not is_metric_name(name) or not self.scalars.is_scalar(call.args[0].value, self.env, self.current_class):
            return {}
        return {singular(name): f"{name}[-1]"}


def _training_region(tree: cst.Module, index: ModuleIndex, training: Training, finder: HyperparameterFinder, what: str) -> tuple[_Scope, int]:
    """Where the run starts: from the entry point, descend while the training is one call of a
    module function (unless the caller holds the configuration); the first statement that trains."""
    scope = _entry_scope(tree, training)
    visited: set[int] = set()
    while True:
        class_name = index.class_of(scope.function)
        reaching = [s for s in scope.statements if not isinstance(s, (cst.FunctionDef, cst.ClassDef)) and training.reaches([s], class_name)]
        if not reaching:
            raise SkipFile(f"no training loop found (no {what} reached from the entry point)")
        callee = _called_function(reaching[0], index) if len(reaching) == 1 else None
        if callee is None or id(callee) in visited or not training.function_trains(callee):
            break
        here = Region(scope.owner, scope.statements.index(reaching[0]), scope.function, (tree,))
        there = Region(callee.body, 0, callee, (tree,))
        if finder._visible_bindings(here) and not finder._visible_bindings(there):
            break  # the caller holds the configuration: start the run there
        visited.add(id(callee))
        scope = _Scope(callee.body, list(callee.body.body), callee)
    return scope, scope.statements.index(reaching[0])


def plan_torch_tracking(tree: cst.Module, index: ModuleIndex) -> TorchPlan:
    training = Training(index)
    scalars = ScalarTypes(index)
    finder = HyperparameterFinder(index)
    scope, start = _training_region(tree, index, training, finder, ".backward() call")
    region = Region(scope.owner, start, scope.function, (tree,))
    hyperparameters = finder.find(region)
    if not hyperparameters:
        raise SkipFile("no hyperparameters found (no argparse namespace, config, constants or optimizer)")

    epoch_logs = _epoch_logs(scope.statements[start:], scope.function or tree, index, training, scalars, set())
    if not epoch_logs:
        raise SkipFile("no per-epoch metric found in the training loop (no loss or evaluation value it computes)")
    final_finder = _MetricFinder(index, scalars, scope.function or tree)
    epoch_anchors = {id(log.anchor) for log in epoch_logs}
    final_logs = [
        MetricLog(log.anchor, log.values, None)
        for log in final_finder.in_block(scope.statements[start:], None, inner_loops=False)
        if id(log.anchor) not in epoch_anchors
    ]
    return TorchPlan(region, hyperparameters, epoch_logs, final_logs)


def _epoch_logs(
    statements: Sequence[cst.BaseStatement],
    scope: cst.FunctionDef | cst.Module,
    index: ModuleIndex,
    training: Training,
    scalars: ScalarTypes,
    visited: set[int],
) -> list[MetricLog]:
    """Metric logs of the outermost training loops reached from ``statements``."""
    class_name = index.class_of(scope) if isinstance(scope, cst.FunctionDef) else None
    logs: list[MetricLog] = []
    for statement, is_loop in _flat(statements):
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            continue
        if is_loop and training.reaches([statement], class_name):
            logs += _loop_logs(statement, scope, index, scalars)
            continue
        if is_loop or isinstance(statement, (cst.If, cst.With, cst.Try)):
            if is_loop:
                continue
            continue  # the blocks' statements come next
        for callee in training.training_callees(statement, class_name):
            if id(callee) in visited:
                continue
            visited.add(id(callee))
            logs += _epoch_logs(simple_statements(callee.body), callee, index, training, scalars, visited)
    return logs


def _loop_logs(loop: cst.For | cst.While, scope, index: ModuleIndex, scalars: ScalarTypes) -> list[MetricLog]:
    step = _loop_step(loop)
    if step is None or not isinstance(loop.body, cst.IndentedBlock):
        return []
    finder = _MetricFinder(index, scalars, scope)
    direct = finder.in_block(loop.body.body, step, inner_loops=False)
    return direct or _helper_logs(loop, step, scope, index, scalars) or finder.in_block(loop.body.body, step, inner_loops=True)


def _helper_logs(loop: cst.For | cst.While, step: str, scope, index: ModuleIndex, scalars: ScalarTypes) -> list[MetricLog]:
    """An epoch loop that only calls ``train(..., epoch)`` and ``test(...)`` helpers (which print
    rather than return): log what those helpers compute, once per call, with the epoch when they
    receive it (a parameter of the same name), else without a step."""
    from ._shared import parameters

    class_name = index.class_of(scope) if isinstance(scope, cst.FunctionDef) else None
    calls_per_helper: dict[int, int] = {}
    for site in find_calls(index.tree, lambda call: True):
        callee = index.callee(site.call, class_name)
        if callee is not None:
            calls_per_helper[id(callee)] = calls_per_helper.get(id(callee), 0) + 1
    logs: list[MetricLog] = []
    seen: set[int] = set()
    for statement, is_loop in _flat(loop.body.body):
        if is_loop or not isinstance(statement, cst.SimpleStatementLine):
            continue
        for call in collect([statement]).calls:
            helper = index.callee(call, class_name)
            if helper is None or id(helper) in seen or not isinstance(helper.body, cst.IndentedBlock):
                continue
            if calls_per_helper.get(id(helper), 0) > 1:
                continue  # called elsewhere too (maybe outside the run)
            seen.add(id(helper))
            helper_step = step if step in parameters(helper) else None
            finder = _MetricFinder(index, scalars, helper)
            # with the epoch, the value a batch loop leaves (the last batch's loss) is an epoch metric
            logs += finder.in_block(helper.body.body, helper_step, inner_loops=helper_step is not None)
    return logs


# ----------------------------------------------------------------------------------------------
# Trainer-style frameworks (Lightning, Keras): the fit call, the run around it, final metrics

LIGHTNING_TRAINERS = ("lightning.Trainer", "lightning.pytorch.Trainer", "pytorch_lightning.Trainer")


def lightning_trainer_calls(tree: cst.Module, imports: Imports) -> list[Site]:
    return find_calls(tree, lambda call: (imports.qualified(call.func) or "") in LIGHTNING_TRAINERS)


def lightning_fit_calls(tree: cst.Module, imports: Imports) -> list[Site]:
    """``trainer.fit(...)`` where ``trainer`` is bound to a Lightning Trainer (or named so)."""
    trainer_names = {"trainer"}
    for site in lightning_trainer_calls(tree, imports):
        parent = site.path[-2] if len(site.path) > 1 else None
        if isinstance(parent, cst.Assign):
            trainer_names.update(n for t in parent.targets for n in _assigned_names(t.target))
    for name, function in ModuleIndex.of(tree, imports).functions.items():
        if function.returns is not None and (imports.qualified(function.returns.annotation) or "") in LIGHTNING_TRAINERS:
            for site in find_calls(tree, lambda call, name=name: m.matches(call.func, m.Name(name))):
                parent = site.path[-2] if len(site.path) > 1 else None
                if isinstance(parent, cst.Assign):
                    trainer_names.update(n for t in parent.targets for n in _assigned_names(t.target))

    def is_fit(call: cst.Call) -> bool:
        func = call.func
        if not m.matches(func, m.Attribute(attr=m.Name("fit"))) or not call.args:
            return False
        receiver = get_full_name_for_node(func.value) or ""
        return receiver.split(".")[-1] in trainer_names or "trainer" in receiver.lower()

    return find_calls(tree, is_fit)


def final_metric_logs(tree: cst.Module, region: Region) -> list[MetricLog]:
    """Scalar metrics the script computes after the training, in the run's scope."""
    index = ModuleIndex.of(tree)
    finder = _MetricFinder(index, ScalarTypes(index), region.function or tree)
    finder.backward = set()
    return finder.in_block(list(region.owner.body)[region.index :], None, inner_loops=False)


def uses_save_hyperparameters(tree: cst.Module) -> bool:
    return bool(find_calls(tree, lambda call: m.matches(call.func, m.Attribute(attr=m.Name("save_hyperparameters")))))


def last_import(tree: cst.Module) -> cst.BaseStatement | None:
    """The last top-level import statement (new module-level definitions go after it)."""
    found = None
    for statement in tree.body:
        if isinstance(statement, cst.SimpleStatementLine) and any(
            isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body
        ):
            found = statement
    return found


def with_list_item(call: cst.Call, keyword: str, item: cst.BaseExpression) -> cst.Call:
    """Add ``item`` to the list passed as ``keyword=`` (creating it, or ``[*old, item]``)."""
    args = list(call.args)
    for position, arg in enumerate(args):
        if arg.keyword and arg.keyword.value == keyword:
            value = arg.value
            if isinstance(value, cst.List):
                elements = list(value.elements)
                if elements and elements[-1].comma == cst.MaybeSentinel.DEFAULT:
                    elements[-1] = elements[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
                new_value: cst.BaseExpression = value.with_changes(elements=[*elements, cst.Element(item)])
            elif isinstance(value, cst.Name) and value.value == "None":
                new_value = cst.List([cst.Element(item)])
            else:
                new_value = cst.parse_expression(f"[*{code_of(value)}, {code_of(item)}]")
            args[position] = arg.with_changes(value=new_value)
            return call.with_changes(args=args)
    if any(arg.star == "**" for arg in args):
        raise SkipFile(f"the call passes **kwargs; cannot tell whether it sets {keyword}=")
    return add_keyword(call, keyword, cst.List([cst.Element(item)]))


def add_keyword(call: cst.Call, keyword: str, value: cst.BaseExpression) -> cst.Call:
    """Append ``keyword=value`` to a call, following its layout (one argument a line or not)."""
    args = list(call.args)
    new = cst.Arg(
        keyword=cst.Name(keyword),
        value=value,
        equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
    )
    if args:
        last = args[-1]
        if last.comma == cst.MaybeSentinel.DEFAULT:
            args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
        else:  # a trailing comma: the new argument takes the same layout and keeps a trailing comma
            previous = args[-2].comma.whitespace_after if len(args) > 1 and args[-2].comma != cst.MaybeSentinel.DEFAULT else last.comma.whitespace_after
            args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=previous))
            new = new.with_changes(comma=last.comma)
    return call.with_changes(args=[*args, new])


def keras_fit_calls(tree: cst.Module) -> list[Site]:
    """``model.fit(x, ...)`` calls (with at least one argument: not a project's own ``fit()``)."""
    return find_calls(tree, lambda call: m.matches(call.func, m.Attribute(attr=m.Name("fit"))) and bool(call.args))


FIT_HYPERPARAMETERS = ("epochs", "batch_size", "validation_split", "steps_per_epoch", "initial_epoch")


def add_fit_settings(found: Hyperparameters, fit: cst.Call) -> None:
    """``epochs=``/``batch_size=``... of the fit call: evaluated where the run starts, so visible."""
    for arg in fit.args:
        if arg.keyword and arg.keyword.value in FIT_HYPERPARAMETERS:
            found.add_item(arg.keyword.value, code_of(arg.value))


def keras_name(imports: Imports) -> str | None:
    """The local name of the ``keras`` module (``import keras``, ``from tensorflow import keras``)."""
    for local, qualified in imports.names.items():
        if qualified in ("keras", "tensorflow.keras") and "." not in local:
            return local
    return None


def plan_estimator_tracking(tree: cst.Module, index: ModuleIndex, is_fit) -> TorchPlan:
    """scikit-learn style: the run starts at the first statement reaching a fit; metrics are the
    scalar metric values computed after it, in its scope and the module functions it calls
    (loops included, without a step)."""
    training = Training(index, is_fit)
    scalars = ScalarTypes(index)
    finder = HyperparameterFinder(index)
    scope, start = _training_region(tree, index, training, finder, "estimator .fit(...)")
    region = Region(scope.owner, start, scope.function, (tree,))
    counts: dict[int, int] = {}
    for site in find_calls(tree, lambda call: True):
        callee = index.callee(site.call, None)
        if callee is not None:
            counts[id(callee)] = counts.get(id(callee), 0) + 1
    # functions called from elsewhere too may run outside the run: their metrics are not logged
    shared = {key for key, count in counts.items() if count > 1}
    logs = _run_logs(scope.statements[start:], scope.function or tree, index, scalars, shared)
    return TorchPlan(region, finder.find(region), [], logs)


def _run_logs(statements, scope, index: ModuleIndex, scalars: ScalarTypes, visited: set[int]) -> list[MetricLog]:
    finder = _MetricFinder(index, scalars, scope)
    finder.backward = set()
    logs = finder.in_block(statements, None, inner_loops=False)
    class_name = index.class_of(scope) if isinstance(scope, cst.FunctionDef) else None
    for statement, is_loop in _flat(statements):
        if is_loop and isinstance(statement.body, cst.IndentedBlock):
            logs += _run_logs(statement.body.body, scope, index, scalars, visited)
            continue
        if isinstance(statement, cst.SimpleStatementLine):
            for call in collect([statement]).calls:
                callee = index.callee(call, class_name)
                if callee is not None and id(callee) not in visited and isinstance(callee.body, cst.IndentedBlock):
                    visited.add(id(callee))
                    logs += _run_logs(callee.body.body, callee, index, scalars, visited)
    return logs
