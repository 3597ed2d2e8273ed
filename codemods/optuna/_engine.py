"""The hpo.optuna adaptation shared by every framework shape.

What a script "fixes" as hyperparameters comes in a few forms, each with a way to make it
follow the trial being run without restructuring the code around it:

- argparse options with numeric defaults: every ``*.parse_args(...)`` result goes through
  ``apply_tuned_params`` (namespace attributes overwritten);
- dataclass fields with numeric defaults: every construction goes through ``apply_tuned_params``
  (``dataclasses.replace``);
- dict literals of settings (``config = {"lr": 3e-3, ...}``): wrapped the same way;
- module-level constants (``LR = 0.01``): rebound at the start of each run;
- local constants in functions or in the main block (``n_components = 32``) and keyword literals
  of calls (``max_depth=5``, and the positional learning rate of ``torch.optim`` optimizers): read
  from ``TUNED_PARAMS`` with the original value as default;
- parameter defaults (``def __init__(self, lr=LEARNING_RATE)`` or ``hidden=64``), evaluated once
  at definition: the calls that leave them out pass them explicitly, so they are read per run.

Names are the originals (argparse dest, field, key, constant, keyword or parameter name), so the
study's parameters relate to the script. Search ranges come from the original value: log-uniform
[v/10, 2v] for learning rates, [v/10, 10v] for regularisation, [v/2, 1.5v] for layer sizes and
counts (a trial must not cost much more than the original run), near-one ranges for momentum-like
values. Epoch counts, seeds, data sizes and output settings are never tuned.

The script's run (the body of ``if __name__ == "__main__":`` or, for a module-level script, the
module from the first statement that uses a tuned value or builds what is trained, so that each
trial starts from a new model) becomes ``train_and_evaluate()``, which returns the value the
script prints last (its metric; the words around it give the direction: accuracy/score/r2/auc ->
maximize, loss/error/mse/perplexity/distance -> minimize); ``objective(trial)`` fills
``TUNED_PARAMS`` with ``trial.suggest_*`` values named like the originals and calls it; the study
runs a few trials and the run is repeated once with ``study.best_params``, so the script's outputs
and final printed line still come last.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import libcst as cst
import libcst.matchers as m
from libcst.codemod import CodemodContext, SkipFile
from libcst.codemod.visitors import AddImportsVisitor
from libcst.helpers import get_full_name_for_node

from .. import _header_length
from .._shared import Imports, fast_visit, _is_main_guard

PARAMS = "TUNED_PARAMS"
APPLY = "apply_tuned_params"
RUN = "train_and_evaluate"
GENERATED_NAMES = (PARAMS, APPLY, RUN, "objective", "study")
MAX_TUNED = 4
TRIALS_ENV = "MLOPS_HPO_TRIALS"
DEFAULT_TRIALS = 3

# ----------------------------------------------------------------------------------------------
# which names are hyperparameters, and how to search around their value

# names (or parts of names) that are settings of the run, the data or the outputs, not things to tune
_NOT_TUNED = re.compile(
    r"seed|epoch|step|iter|log|save|print|interval|every|worker|device|gpu|samples$|^n_sample|^num_sample|classes|^num_class|^n_class|image|img|"
    r"input|output|out_|^out$|eval|test|train|valid|^val|patience|verbose|side|node|feature|noise_std|"
    r"noise$|temperature|head|episode|seq_len|_len$|^len$|bptt|fold|^cv$|split|restart|warmup|ratio|size_mb|"
    r"num_data|n_data|dataset|generated|interpolation|width_px|height|frac"
)
_LEARNING_RATE = re.compile(r"(^|_)lr($|_)|learning_rate")
_LOG_SCALE = re.compile(
    r"weight_decay|^wd$|decay|^alpha$|^c$|^gamma$|^l1|^l2|^reg|lambda|clip|^beta$|length_scale|"
    r"noise_level|margin|_weight$|^kl"
)
_FRACTION = re.compile(r"dropout|^drop|^p$|momentum|^beta\d|smoothing|subsample|^rate$|^keep_prob")
_LAYER_SIZE = re.compile(
    r"hidden|units|_dim$|^dim$|dim_|emsize|nhid|d_model|channels|filters|^width$|^ngf$|^ndf$|^nz$|"
    r"embed|n_components|latent"
)
_COUNT = re.compile(
    r"layers|^depth$|max_depth|estimators|min_samples|neighbors|blocks|n_iter_no_change|leaf|"
    r"leaves|max_features|min_child"
)
_BATCH = re.compile(r"batch_size|^batch$|^bs$")


@dataclass(frozen=True)
class Search:
    """A search space around an original value, rendered as a ``trial.suggest_*`` call."""

    priority: int
    code: Callable[[str], str]


def _fmt(value: float) -> str:
    return repr(float(f"{value:.3g}"))


def _log_range(low: float, high: float) -> Callable[[str], str]:
    return lambda name: f'trial.suggest_float("{name}", {_fmt(low)}, {_fmt(high)}, log=True)'


def _linear_range(low: float, high: float) -> Callable[[str], str]:
    return lambda name: f'trial.suggest_float("{name}", {_fmt(low)}, {_fmt(high)})'


def _int_range(low: int, high: int, step: int = 1) -> Callable[[str], str]:
    step_code = f", step={step}" if step > 1 else ""
    return lambda name: f'trial.suggest_int("{name}", {low}, {high}{step_code})'


def search_for(name: str, value: int | float) -> Search | None:
    """How to search ``name`` around ``value``, or None if it is not a hyperparameter to tune."""
    key = name.lower().lstrip("_")
    if isinstance(value, bool) or _NOT_TUNED.search(key):
        return None
    if isinstance(value, int) and not (_LEARNING_RATE.search(key) or _LOG_SCALE.search(key)):
        return _int_search(key, value)
    if _LEARNING_RATE.search(key):
        # a learning rate much above the original tends to diverge; lower ones only train slower
        return Search(0, _log_range(value / 10, value * 2)) if value > 0 else None
    if isinstance(value, float) and 0.8 <= value < 1.0 and (_FRACTION.search(key) or _LOG_SCALE.search(key)):
        # momentum, discount factors, Adam betas: stay close below one
        return Search(2, _linear_range(1 - 2 * (1 - value), 1 - (1 - value) / 2))
    if _FRACTION.search(key) and 0 <= value < 1:
        low, high = (0.0, 0.5) if value == 0 else (value / 2, min(value * 2, value + 0.2))
        return Search(3, _linear_range(low, high))
    if _LOG_SCALE.search(key):
        return Search(1, _log_range(value / 10, value * 10)) if value > 0 else None
    return None


def _int_search(key: str, value: int) -> Search | None:
    # sizes and counts search up to 1.5x only: a trial must not cost much more than the original run
    if value >= 2 and _LAYER_SIZE.search(key):
        low = value // 2
        step = low if value % 2 == 0 else 1
        return Search(2, _int_range(low, value + low, step))
    if value >= 1 and _COUNT.search(key):
        return Search(2, _int_range(max(1, value // 2), max(value + value // 2, value + 1)))
    if isinstance(value, int) and value >= 4 and _BATCH.search(key):
        # smaller batches make each trial slower: search upwards only
        return Search(5, _int_range(value, value * 2, value // 2 if value % 2 == 0 else 1))
    return None


# methods called on what a run trains: estimators and Keras models (fit), torch modules (train, and
# parameters() handed to an optimizer)
_TRAINING_METHODS = frozenset(
    {"fit", "compile", "train", "partial_fit", "train_on_batch", "fit_generator", "parameters", "named_parameters"}
)


_MAXIMIZE = re.compile(
    r"acc|accuracy|score|r2|auc|f1|precision|recall|return|reward|likelihood|lml|iou|dice|bleu|rouge|"
    r"correct|map|ndcg|top\d|psnr|ssim|auroc|mcc|kappa|r_squared|explained"
)
_MINIMIZE = re.compile(
    r"loss|error|err|mse|rmse|mae|perplexity|ppl|distance|nll|cost|divergence|kl|regret|wer|cer|"
    r"energy|bpd"
)


def direction_of(text: str) -> str | None:
    """"maximize"/"minimize" from the last metric word in ``text`` (None when there is none)."""
    words = [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w]
    for index in range(len(words) - 1, -1, -1):
        word = words[index]
        if word == "rate":  # success/catch/hit rate, but error/miss rate
            before = words[index - 1] if index else ""
            return "minimize" if before in ("error", "miss", "failure", "false", "drop", "loss") else "maximize"
        if _MINIMIZE.fullmatch(word) or word.endswith("loss") or word.endswith("error"):
            return "minimize"
        if _MAXIMIZE.fullmatch(word) or word.endswith("acc") or word.endswith("accuracy"):
            return "maximize"
    return None


# ----------------------------------------------------------------------------------------------
# what the script holds


def number_of(node: cst.BaseExpression | None) -> int | float | None:
    if isinstance(node, cst.Integer):
        return int(node.evaluated_value)
    if isinstance(node, cst.Float):
        return float(node.evaluated_value)
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        inner = number_of(node.expression)
        return -inner if inner is not None else None
    return None


def _is_dataclass_decorator(decorator: cst.Decorator) -> bool:
    target = decorator.decorator.func if isinstance(decorator.decorator, cst.Call) else decorator.decorator
    return get_full_name_for_node(target) in ("dataclass", "dataclasses.dataclass")


def _argparse_dest(call: cst.Call) -> str | None:
    dest = next((a.value for a in call.args if a.keyword and a.keyword.value == "dest"), None)
    if isinstance(dest, cst.SimpleString):
        return str(dest.evaluated_value)
    flags = [a.value.evaluated_value for a in call.args if a.keyword is None and isinstance(a.value, cst.SimpleString)]
    longs = [str(f) for f in flags if str(f).startswith("--")]
    if not longs:
        return None
    return longs[0][2:].replace("-", "_")


@dataclass
class Candidate:
    name: str
    value: int | float
    search: Search
    order: int  # first appearance, for a stable choice


@dataclass
class Site:
    """A node to rewrite, where it is: the module-level statement index and whether it runs at call time."""

    node: cst.CSTNode
    statement: int
    in_function: bool


@dataclass
class Parameter:
    name: str
    position: int  # among the positional parameters the caller passes (self excluded)
    default: cst.BaseExpression


@dataclass
class Findings:
    candidates: dict[str, Candidate] = field(default_factory=dict)
    argparse_sites: list[Site] = field(default_factory=list)  # parse_args(...) calls
    argparse_names: set[str] = field(default_factory=set)
    argparse_grids: set[str] = field(default_factory=set)  # list-valued options: a grid of values
    dataclass_names: dict[str, set[str]] = field(default_factory=dict)  # class -> tunable fields
    dataclass_sites: list[tuple[str, Site]] = field(default_factory=list)  # constructions
    dict_sites: list[tuple[set[str], Site]] = field(default_factory=list)  # settings dict literals
    constants: dict[str, int] = field(default_factory=dict)  # module constant -> its statement
    local_constants: dict[str, list[Site]] = field(default_factory=dict)  # name -> assignments' values
    keyword_sites: dict[str, list[Site]] = field(default_factory=dict)  # name -> literal argument values
    references: dict[str, list[Site]] = field(default_factory=dict)  # Name -> where it is used
    assigned_at_module: dict[str, int] = field(default_factory=dict)  # name -> times bound at top level
    functions: dict[str, cst.FunctionDef] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)
    # module-level functions and classes (their __init__): parameters with a default, by position
    signatures: dict[str, list[Parameter]] = field(default_factory=dict)
    calls: dict[str, list[Site]] = field(default_factory=dict)  # calls of a module-level name
    trained: dict[int, set[str]] = field(default_factory=dict)  # statement -> names it trains
    results_passed_on: set[str] = field(default_factory=set)  # f in `g(f(...))`, e.g. sys.exit(main())

    def offer(self, name: str, value: int | float | None, search: Search | None = None) -> bool:
        if value is None:
            return False
        search = search or search_for(name, value)
        if search is None:
            return False
        if name not in self.candidates:
            self.candidates[name] = Candidate(name, value, search, len(self.candidates))
        return True


class _Collector(cst.CSTVisitor):
    """One pass over the module, recording hyperparameter sources and name uses by statement."""

    def __init__(self, findings: Findings, dataclasses: dict[str, dict[str, int | float]], imports: Imports) -> None:
        self.f = findings
        self.imports = imports
        self.dataclasses = dataclasses
        self.statement = 0
        self.classes: list[str] = []
        self.depth = 0  # > 0 inside a function (or lambda) body: code that runs when called

    def site(self, node: cst.CSTNode) -> Site:
        return Site(node, self.statement, self.depth > 0)

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        if self.depth == 0 and not self.classes:
            self._signature(node.name.value, node, skip=0)
        elif self.depth == 0 and len(self.classes) == 1 and node.name.value == "__init__":
            self._signature(self.classes[0], node, skip=1)
        for decorator in node.decorators:
            fast_visit(decorator, self)
        fast_visit(node.params, self)
        self.f.names.add(node.name.value)
        self.depth += 1
        if isinstance(node.body, cst.IndentedBlock):
            self._local_constants(node.body)
        fast_visit(node.body, self)
        self.depth -= 1
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        fast_visit(node.params, self)
        self.depth += 1
        fast_visit(node.body, self)
        self.depth -= 1
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.f.names.add(node.name.value)
        self.classes.append(node.name.value)
        return True

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self.classes.pop()

    def _signature(self, name: str, function: cst.FunctionDef, skip: int) -> None:
        params = function.params
        if params.star_arg is not cst.MaybeSentinel.DEFAULT and not isinstance(params.star_arg, cst.ParamStar):
            return  # *args: positions cannot be told apart
        positional = [*params.posonly_params, *params.params][skip:]
        found = [Parameter(p.name.value, i, p.default) for i, p in enumerate(positional) if p.default is not None]
        found += [Parameter(p.name.value, 10**6, p.default) for p in params.kwonly_params if p.default is not None]
        if found:
            self.f.signatures[name] = found

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        fast_visit(node.value, self)
        return False

    def visit_Arg(self, node: cst.Arg) -> bool:
        fast_visit(node.value, self)
        return False

    def visit_Param(self, node: cst.Param) -> bool:
        # a parameter's name binds, it does not use the module-level name
        for part in (node.annotation, node.default):
            if part is not None:
                fast_visit(part, self)
        return False

    def visit_Name(self, node: cst.Name) -> None:
        self.f.names.add(node.value)
        self.f.references.setdefault(node.value, []).append(self.site(node))

    def _local_constants(self, body: cst.IndentedBlock) -> None:
        for statement in body.body:
            if not m.matches(statement, m.SimpleStatementLine(body=[m.Assign(targets=[m.AssignTarget(m.Name())])])):
                continue
            assign = statement.body[0]
            name = assign.targets[0].target.value
            if self.f.offer(name, number_of(assign.value)):
                self.f.local_constants.setdefault(name, []).append(Site(assign.value, self.statement, True))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        method = func.attr.value if isinstance(func, cst.Attribute) else None
        self._note_training(node, method)
        for arg in node.args:
            if isinstance(arg.value, cst.Call) and isinstance(arg.value.func, cst.Name):
                self.f.results_passed_on.add(arg.value.func.value)
        if method == "add_argument":
            self._argparse_option(node)
            return
        if method == "parse_args":
            self.f.argparse_sites.append(self.site(node))
            return
        callee = func.value if isinstance(func, cst.Name) else None
        if callee is not None:
            self.f.calls.setdefault(callee, []).append(self.site(node))
        if callee in self.dataclasses:
            self.f.dataclass_sites.append((callee, self.site(node)))
            return
        qualified = self.imports.qualified(func) or ""
        if qualified.startswith("torch.optim.") and len(node.args) >= 2 and node.args[1].keyword is None:
            # torch.optim.SGD(model.parameters(), 0.1): the learning rate given by position
            lr = node.args[1].value
            if self.f.offer("lr", number_of(lr)):
                self.f.keyword_sites.setdefault("lr", []).append(self.site(lr))
        if qualified.split(".")[0] in _NOT_MODEL_LIBRARIES or (
            qualified.startswith("torch.") and not qualified.startswith(("torch.optim.", "torch.nn."))
        ):
            return  # numpy.triu(k=1), torch.randn(...): arguments of computations, not of the model
        for arg in node.args:
            if not arg.keyword or number_of(arg.value) is None:
                continue
            name = arg.keyword.value
            if name == "p" and "dropout" not in (get_full_name_for_node(func) or "").lower():
                continue
            if self.f.offer(name, number_of(arg.value)):
                self.f.keyword_sites.setdefault(name, []).append(self.site(arg.value))

    def _note_training(self, call: cst.Call, method: str | None) -> None:
        """Receivers of ``.fit``/``.compile``/``.train``/``.parameters()``...: what a run trains."""
        if method not in _TRAINING_METHODS or not isinstance(call.func.value, cst.Name):
            return
        receiver = call.func.value.value
        names = self.f.trained.setdefault(self.statement, set())
        names.add(receiver)
        if "trainer" in receiver.lower():  # trainer.fit(model, ...): the model is trained
            names.update(a.value.value for a in call.args if isinstance(a.value, cst.Name))

    def _argparse_option(self, call: cst.Call) -> None:
        keywords = {a.keyword.value: a.value for a in call.args if a.keyword}
        dest = _argparse_dest(call)
        if dest and isinstance(keywords.get("nargs"), cst.SimpleString) and "action" not in keywords:
            grid = _grid_search(dest, keywords.get("default"))
            if grid is not None and self.f.offer(dest, 0, grid):
                self.f.argparse_names.add(dest)
                self.f.argparse_grids.add(dest)
            return
        if {"nargs", "action", "choices"} & keywords.keys():
            return
        value = number_of(keywords.get("default"))
        if dest is None or value is None:
            return
        type_name = get_full_name_for_node(keywords["type"]) if "type" in keywords else None
        if type_name == "float":
            value = float(value)
        elif type_name not in (None, "int"):
            return
        if self.f.offer(dest, value):
            self.f.argparse_names.add(dest)

    def visit_Dict(self, node: cst.Dict) -> None:
        keys: set[str] = set()
        for element in node.elements:
            if not isinstance(element, cst.DictElement) or not isinstance(element.key, cst.SimpleString):
                return
            key = str(element.key.evaluated_value)
            if self.f.offer(key, number_of(element.value)):
                keys.add(key)
        if keys:
            self.f.dict_sites.append((keys, self.site(node)))


def _dataclass_fields(tree: cst.Module) -> dict[str, dict[str, int | float]]:
    """Module-level dataclasses -> their fields with a numeric default."""
    found: dict[str, dict[str, int | float]] = {}
    for statement in tree.body:
        if not isinstance(statement, cst.ClassDef) or not any(map(_is_dataclass_decorator, statement.decorators)):
            continue
        fields: dict[str, int | float] = {}
        for line in statement.body.body if isinstance(statement.body, cst.IndentedBlock) else ():
            if m.matches(line, m.SimpleStatementLine(body=[m.AnnAssign(target=m.Name())])):
                ann = line.body[0]
                value = number_of(ann.value)
                if value is not None:
                    fields[ann.target.value] = value
        found[statement.name.value] = fields
    return found


def _module_bindings(tree: cst.Module) -> dict[str, int]:
    counts: dict[str, int] = {}
    for statement in tree.body:
        for small in statement.body if isinstance(statement, cst.SimpleStatementLine) else ():
            targets = small.targets if isinstance(small, cst.Assign) else ()
            for target in targets:
                if isinstance(target.target, cst.Name):
                    counts[target.target.value] = counts.get(target.target.value, 0) + 1
            if isinstance(small, (cst.AugAssign, cst.AnnAssign)) and isinstance(small.target, cst.Name):
                counts[small.target.value] = counts.get(small.target.value, 0) + 1
    return counts


_NOT_MODEL_LIBRARIES = frozenset("numpy math random scipy pandas json os time pathlib itertools".split())


def _grid_search(name: str, default: cst.BaseExpression | None) -> Search | None:
    """A list-valued option (``nargs="+"``) whose default lists the values the script tries: the
    trial picks one of its range (numbers) or of its values (strings)."""
    if not isinstance(default, (cst.List, cst.Tuple)) or _NOT_TUNED.search(name.lower()):
        return None
    items = [element.value for element in default.elements]
    numbers = [number_of(item) for item in items]
    if len(items) >= 2 and all(isinstance(item, cst.SimpleString) for item in items):
        choices = ", ".join(_code(item) for item in items)
        return Search(1, lambda n: f'trial.suggest_categorical("{n}", [{choices}])')
    if len(items) < 2 or any(number is None for number in numbers):
        return None
    low, high = min(numbers), max(numbers)
    if all(isinstance(number, int) for number in numbers):
        return Search(1, _int_range(low, high))
    if low > 0 and high / low >= 10:
        return Search(1, _log_range(low, high))
    return Search(1, _linear_range(low, high))


def collect(tree: cst.Module) -> Findings:
    findings = Findings()
    dataclasses = _dataclass_fields(tree)
    # dataclass fields first: they name the settings most directly
    for class_name, fields in dataclasses.items():
        tunable = {name for name, value in fields.items() if findings.offer(name, value)}
        if tunable:
            findings.dataclass_names[class_name] = tunable
    collector = _Collector(findings, {name: {} for name in findings.dataclass_names}, Imports.of(tree))
    findings.assigned_at_module = _module_bindings(tree)
    for index, statement in enumerate(tree.body):
        collector.statement = index
        if isinstance(statement, cst.FunctionDef):
            findings.functions[statement.name.value] = statement
        if m.matches(statement, m.SimpleStatementLine(body=[m.Assign(targets=[m.AssignTarget(m.Name())])])):
            assign = statement.body[0]
            name = assign.targets[0].target.value
            if findings.assigned_at_module.get(name) == 1 and findings.offer(name, number_of(assign.value)):
                findings.constants[name] = index
        if _is_main_guard(statement) and isinstance(statement.body, cst.IndentedBlock):
            collector._local_constants(statement.body)  # `lr = 1e-3` in the main block
        fast_visit(statement, collector)
    for parameters in findings.signatures.values():
        for parameter in parameters:
            findings.offer(parameter.name, number_of(parameter.default))
    return findings


# ----------------------------------------------------------------------------------------------
# the script's run and its metric


@dataclass
class Metric:
    expression: cst.BaseExpression
    text: str  # what the print says about it
    direction: str


def _print_call(statement: cst.BaseStatement) -> cst.Call | None:
    if m.matches(statement, m.SimpleStatementLine(body=[m.Expr(m.Call(func=m.Name("print")))])):
        return statement.body[0].value
    return None


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _spec(part: cst.FormattedStringExpression) -> str:
    return "".join(_code(piece) for piece in part.format_spec or ())


def metric_of_print(call: cst.Call) -> Metric | None:
    """The value a ``print`` reports last, with the words around it."""
    args = [a for a in call.args if a.keyword is None and a.star == ""]
    if not args:
        return None
    if len(args) == 1 and isinstance(args[0].value, cst.FormattedString):
        parts = args[0].value.parts
        placed = [i for i, p in enumerate(parts) if isinstance(p, cst.FormattedStringExpression)]
        if not placed:
            return None
        numeric = [i for i in placed if re.search(r"[efg%]$|\.\d", _spec(parts[i]))]
        index = (numeric or placed)[-1]
        expression = parts[index].expression
        text = "".join(p.value for p in parts[:index] if isinstance(p, cst.FormattedStringText))
        shown = "".join(
            p.value if isinstance(p, cst.FormattedStringText) else _code(p.expression) for p in parts[:index]
        )
    else:
        values = [a.value for a in args if not isinstance(a.value, (cst.SimpleString, cst.FormattedString))]
        if not values:
            return None
        expression = values[-1]
        text = shown = " ".join(
            str(a.value.evaluated_value) for a in args if isinstance(a.value, cst.SimpleString)
        )
    direction = direction_of(text) or direction_of(_code(expression))
    if direction is None:
        return None
    words = re.sub(r"[^A-Za-z0-9 _()-]+", " ", shown).replace("( ", "(").replace(" )", ")").split()
    return Metric(expression, " ".join(words) or "metric", direction)


def _returns_value(function: cst.FunctionDef) -> bool:
    class Finder(cst.CSTVisitor):
        found = False

        def visit_FunctionDef(self, node):  # nested functions return for themselves
            return node is function

        def visit_Lambda(self, node):
            return False

        def visit_Return(self, node):
            if node.value is not None:  # a bare early `return` keeps returning None
                Finder.found = True

    finder = Finder()
    fast_visit(function, finder)
    return Finder.found


@dataclass
class RunEnd:
    """Where the metric is: printed in the run itself, or in a chain of called functions."""

    metric: Metric
    chain: list[str]  # functions (outermost first) whose last statement calls the next; the last prints


def locate_metric(body: Sequence[cst.BaseStatement], findings: Findings, depth: int = 0) -> RunEnd:
    last = body[-1]
    if m.matches(last, m.SimpleStatementLine(body=[m.Expr(m.Call(func=m.Name()))])) and depth < 3:
        name = last.body[0].value.func.value
        function = findings.functions.get(name)
        if function is not None and isinstance(function.body, cst.IndentedBlock):
            if function.decorators:
                raise SkipFile(f"{name}() is decorated (a CLI framework such as click may own the call)")
            if _returns_value(function):
                raise SkipFile(f"{name}() already returns a value, so its printed metric cannot be returned")
            inner = locate_metric(function.body.body, findings, depth + 1)
            return RunEnd(inner.metric, [name, *inner.chain])
    for statement in reversed(body):
        call = _print_call(statement)
        if call is not None:
            metric = metric_of_print(call)
            if metric is None:
                raise SkipFile("the final print shows no metric whose direction is known (accuracy, loss, ...)")
            return RunEnd(metric, [])
    raise SkipFile("no final printed metric found at the end of the run")


# ----------------------------------------------------------------------------------------------
# the rewrite


class _Rewrite(cst.CSTTransformer):
    """Replace nodes by identity (one pass)."""

    def __init__(self, replacements: dict[int, list[Callable[[cst.CSTNode], cst.CSTNode]]]) -> None:
        super().__init__()
        self.replacements = replacements

    def on_leave(self, original_node, updated_node):
        for replace in self.replacements.get(id(original_node), ()):
            updated_node = replace(updated_node)
        return updated_node


def _with_arguments(arguments: list[str]) -> Callable[[cst.CSTNode], cst.CSTNode]:
    """Append keyword arguments to a call (keeping a multi-line call's layout)."""

    def rewrite(call: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(call, cst.Call)
        new = [cst.ensure_type(cst.parse_expression(f"f({code})"), cst.Call).args[0] for code in arguments]
        args = list(call.args)
        if args and isinstance(args[-1].comma, cst.Comma):  # trailing comma: one argument per line
            trailing = args[-1].comma
            between = args[-2].comma if len(args) > 1 and isinstance(args[-2].comma, cst.Comma) else trailing
            args[-1] = args[-1].with_changes(comma=between)
            new = [a.with_changes(comma=between) for a in new[:-1]] + [new[-1].with_changes(comma=trailing)]
        elif args:
            args[-1] = args[-1].with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))
            new = [a.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))) for a in new[:-1]] + new[-1:]
        else:
            new = [a.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))) for a in new[:-1]] + new[-1:]
        return call.with_changes(args=[*args, *new])

    return rewrite


def _wrap(function: str) -> Callable[[cst.CSTNode], cst.CSTNode]:
    return lambda node: cst.Call(func=cst.Name(function), args=[cst.Arg(node)])


def _lookup(name: str) -> Callable[[cst.CSTNode], cst.CSTNode]:
    return lambda node: cst.parse_expression(f'{PARAMS}.get("{name}", {_code(node)})')


class _Bindings(cst.CSTVisitor):
    """Names a run of statements binds in its own scope (not in nested functions or comprehensions)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def add(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Name):
            if node.value not in self.names:
                self.names.append(node.value)
        elif isinstance(node, (cst.Tuple, cst.List)):
            for element in node.elements:
                self.add(element.value)
        elif isinstance(node, cst.StarredElement):
            self.add(node.value)

    def visit_FunctionDef(self, node):
        self.add(node.name)
        return False

    def visit_ClassDef(self, node):
        self.add(node.name)
        return False

    def visit_Lambda(self, node):
        return False

    def visit_ListComp(self, node):
        return False

    def visit_SetComp(self, node):
        return False

    def visit_DictComp(self, node):
        return False

    def visit_GeneratorExp(self, node):
        return False

    def visit_AssignTarget(self, node):
        self.add(node.target)

    def visit_AugAssign(self, node):
        self.add(node.target)

    def visit_AnnAssign(self, node):
        self.add(node.target)

    def visit_For(self, node):
        self.add(node.target)

    def visit_AsName(self, node):
        self.add(node.name)

    def visit_NamedExpr(self, node):
        self.add(node.target)

    def visit_Del(self, node):
        self.add(node.target)

    def visit_Import(self, node):
        for alias in node.names:
            if alias.asname is None:
                self.names.append((get_full_name_for_node(alias.name) or "").split(".")[0])

    def visit_ImportFrom(self, node):
        if isinstance(node.names, cst.ImportStar):
            raise SkipFile("the run does a star import, which cannot move into a function")
        for alias in node.names:
            if alias.asname is None:
                self.names.append(get_full_name_for_node(alias.name) or "")


class _Unannotate(cst.CSTTransformer):
    """``x: T = v`` -> ``x = v`` at the run's top level (an annotated name cannot be declared global)."""

    def visit_FunctionDef(self, node):
        return False

    def visit_ClassDef(self, node):
        return False

    def leave_AnnAssign(self, original_node, updated_node):
        if updated_node.value is None:
            raise SkipFile("the run declares an annotated name without a value")
        return cst.Assign(targets=[cst.AssignTarget(updated_node.target)], value=updated_node.value)


def _statement(code: str) -> cst.BaseStatement:
    return cst.parse_statement(code)


def _indented(statements: Sequence[cst.BaseStatement]) -> cst.IndentedBlock:
    return cst.IndentedBlock(body=list(statements))


def adapt(tree: cst.Module, context: CodemodContext, framework_modules: Sequence[str], framework: str) -> cst.Module:
    imports = Imports.of(tree)
    if imports.uses("optuna"):
        raise SkipFile("the script already uses Optuna")
    if not any(imports.uses(module) for module in framework_modules):
        raise SkipFile(f"no {framework} import found")
    findings = collect(tree)
    clash = sorted(set(GENERATED_NAMES) & findings.names)
    if clash:
        raise SkipFile(f"the script already defines {', '.join(clash)}")

    guards = [i for i, s in enumerate(tree.body) if _is_main_guard(s)]
    if guards and (guards[-1] != len(tree.body) - 1 or not isinstance(tree.body[guards[-1]].body, cst.IndentedBlock)):
        raise SkipFile('code follows the `if __name__ == "__main__":` block')
    guard = guards[-1] if guards else None

    if guard is not None:
        once = [s for s in tree.body[:guard] if not isinstance(s, (cst.FunctionDef, cst.ClassDef))]
        trained = set().union(*findings.trained.values()) - findings.functions.keys()
        if _first_binding(once, trained, -1) >= 0:
            raise SkipFile("the model is built once when the module loads, so every trial would train the same one")
    plan = _plan(tree, findings, guard)
    if not plan.tuned:
        raise SkipFile("no tunable hyperparameter found (learning rate, layer sizes, regularisation, depth ...)")
    region_body = list(tree.body[guard].body.body) if guard is not None else list(tree.body[plan.start :])
    end = locate_metric(region_body, findings)
    for name in end.chain:
        if name in findings.results_passed_on:
            raise SkipFile(f"the exit status comes from {name}(), which would have to return the metric")
    if guard is None and plan.start < _header_length(tree):
        raise SkipFile("the hyperparameters are used among the imports")

    # 1. rewrite the sites where the tuned values are defined
    replacements: dict[int, list[Callable[[cst.CSTNode], cst.CSTNode]]] = {}
    for node in plan.wrapped:
        replacements.setdefault(id(node), []).append(_wrap(APPLY))
    for name, node in plan.looked_up:
        replacements.setdefault(id(node), []).append(_lookup(name))
    for call, arguments in plan.completions:
        replacements.setdefault(id(call), []).insert(0, _with_arguments(arguments))
    # 2. the functions that print the metric return it
    chain_functions = {id(findings.functions[name]): name for name in end.chain}
    for function_id in chain_functions:
        replacements.setdefault(function_id, []).append(_returning(end, chain_functions[function_id]))
    # only the module-level statements holding a rewritten node are visited
    touched = set(plan.touched) | {index for index, s in enumerate(tree.body) if id(s) in chain_functions}
    rewrite = _Rewrite(replacements)
    tree = tree.with_changes(
        body=[s.visit(rewrite) if index in touched else s for index, s in enumerate(tree.body)]
    )

    # 3. the run becomes train_and_evaluate(), then the objective and the study
    header = _header_length(tree)
    params_statement = _statement(f"{PARAMS}: dict = {{}}  # hyperparameters of the Optuna trial being run\n")
    helper = _apply_helper(plan)
    head = [*tree.body[:header], params_statement.with_changes(leading_lines=[cst.EmptyLine()])]
    if helper is not None:
        head.append(helper)
    if guard is not None:
        region = list(tree.body[guard].body.body)
        body_before = list(tree.body[header:guard])
    else:
        region = list(tree.body[plan.start :])
        body_before = list(tree.body[header : plan.start])
    run_function = _run_function(region, plan, end)
    objective = _objective(plan)
    study = _study_statements(end.metric.direction)
    AddImportsVisitor.add_needed_import(context, "optuna")
    AddImportsVisitor.add_needed_import(context, "os")
    if plan.uses_dataclass:
        AddImportsVisitor.add_needed_import(context, "dataclasses")
    if guard is not None:
        old_guard = tree.body[guard]
        new_guard = old_guard.with_changes(body=old_guard.body.with_changes(body=study))
        return tree.with_changes(body=[*head, *body_before, run_function, objective, new_guard])
    first = study[0].with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
    return tree.with_changes(body=[*head, *body_before, run_function, objective, first, *study[1:]])


@dataclass
class Plan:
    tuned: list[Candidate]
    start: int  # first statement of the run for a module-level script
    wrapped: list[cst.CSTNode]  # expressions to pass through apply_tuned_params
    looked_up: list[tuple[str, cst.CSTNode]]  # literal values read from TUNED_PARAMS
    completions: list[tuple[cst.Call, list[str]]]  # calls given their tuned defaults explicitly
    touched: set[int]  # module-level statements holding a node to rewrite
    rebound: list[str]  # module constants rebound at the start of each run
    reapplied: list[str]  # module-level settings objects re-applied at the start of each run
    uses_dataclass: bool
    uses_dict: bool
    uses_namespace: bool
    uses_grid: bool


def _plan(tree: cst.Module, f: Findings, guard: int | None) -> Plan:
    """Choose the hyperparameters to tune and how each one follows the trial."""
    n = len(tree.body)
    # candidate usable if some mechanism reaches it; for a module-level script the run starts at
    # the first statement that uses a tuned value, so everything at module level is reachable
    ranked = sorted(f.candidates.values(), key=lambda c: (c.search.priority, c.order))
    once_code = lambda site: not site.in_function and site.statement != guard  # noqa: E731

    def module_holder(site: Site) -> str | None:
        statement = tree.body[site.statement]
        if not site.in_function and m.matches(
            statement, m.SimpleStatementLine(body=[m.Assign(targets=[m.AssignTarget(m.Name())])])
        ):
            assign = statement.body[0]
            if assign.value is site.node or _holds(assign.value, site.node):
                return assign.targets[0].target.value
        return None

    def holder_usable(site: Site) -> bool:
        if guard is None or not once_code(site):
            return True
        name = module_holder(site)
        if name is None or f.assigned_at_module.get(name) != 1:
            return False
        return not any(once_code(r) and r.statement != site.statement for r in f.references.get(name, []))

    def completable(callable_name: str) -> list[Site]:
        """Calls of a module-level function or class that can be given a left-out default explicitly."""
        sites = f.calls.get(callable_name, [])
        if any(guard is not None and once_code(site) for site in sites):
            return []
        if any(arg.star for site in sites for arg in site.node.args):
            return []
        return sites

    covered_defaults = {
        id(parameter.default)
        for callable_name, parameters in f.signatures.items()
        if completable(callable_name)
        for parameter in parameters
        if isinstance(parameter.default, cst.Name)
    }

    def default_of_callable(name: str) -> bool:
        return any(
            p.name == name and number_of(p.default) is not None and completable(callable_name)
            for callable_name, parameters in f.signatures.items()
            for p in parameters
        )

    def reachable(c: Candidate) -> bool:
        name = c.name
        if default_of_callable(name):
            return True
        if name in f.argparse_names and f.argparse_sites and all(holder_usable(s) for s in f.argparse_sites):
            return True
        if any(name in fields for fields in f.dataclass_names.values()):
            sites = [s for cls, s in f.dataclass_sites if name in f.dataclass_names[cls]]
            if sites and all(holder_usable(s) for s in sites):
                return True
        if any(name in keys and holder_usable(s) for keys, s in f.dict_sites):
            return True
        if name in f.constants:
            if guard is None:
                return True
            uses = [r for r in f.references.get(name, []) if r.statement != f.constants[name]]
            return bool(uses) and not any(once_code(r) and id(r.node) not in covered_defaults for r in uses)
        if name in f.local_constants:
            return len(f.local_constants[name]) == 1
        sites = f.keyword_sites.get(name, [])
        values = {number_of(s.node) for s in sites}
        return bool(sites) and len(values) == 1 and (guard is None or not any(once_code(s) for s in sites))

    tuned = [c for c in ranked if reachable(c)]
    if any(c.search.priority < 5 for c in tuned):
        tuned = [c for c in tuned if c.search.priority < 5]  # batch sizes only when nothing else
    tuned = tuned[:MAX_TUNED]
    names = {c.name for c in tuned}

    wrapped: list[cst.CSTNode] = []
    looked_up: list[tuple[str, cst.CSTNode]] = []
    rebound: list[str] = []
    reapplied: list[str] = []
    starts: list[int] = []
    kinds = set()

    touched: set[int] = set()

    def hold(site: Site, kind: str) -> None:
        kinds.add(kind)
        touched.add(site.statement)
        name = module_holder(site) if not site.in_function else None
        if guard is not None and once_code(site):
            reapplied.append(name)
        else:
            wrapped.append(site.node)
            if guard is None and not site.in_function:
                starts.append(site.statement)

    if names & f.argparse_names:
        for site in f.argparse_sites:
            hold(site, "namespace")
    for cls, fields in f.dataclass_names.items():
        if names & fields:
            for c, site in f.dataclass_sites:
                if c == cls:
                    hold(site, "dataclass")
    for keys, site in f.dict_sites:
        if names & keys and holder_usable(site):
            hold(site, "dict")
    for name in sorted(names & f.constants.keys(), key=lambda x: f.constants[x]):
        rebound.append(name)
        uses = [r for r in f.references.get(name, []) if r.statement != f.constants[name] and not r.in_function]
        starts.extend(r.statement for r in uses)
        if guard is None and not uses:
            # used only inside functions: the run starts where the constant's users are called
            starts.extend(r.statement for r in f.references.get(name, []) if r.statement > f.constants[name])
    for name in names:
        if name in f.local_constants and len(f.local_constants[name]) == 1:
            looked_up.append((name, f.local_constants[name][0].node))
            touched.add(f.local_constants[name][0].statement)
        for site in f.keyword_sites.get(name, []):
            looked_up.append((name, site.node))
            touched.add(site.statement)
            if guard is None and not site.in_function:
                starts.append(site.statement)
    completions: list[tuple[cst.Call, list[str]]] = []
    for callable_name, parameters in f.signatures.items():
        added = [
            (p, p.default.value if isinstance(p.default, cst.Name) else f'{PARAMS}.get("{p.name}", {_code(p.default)})')
            for p in parameters
            if (isinstance(p.default, cst.Name) and p.default.value in names & f.constants.keys())
            or (p.name in names and number_of(p.default) is not None)
        ]
        if not added:
            continue
        for site in completable(callable_name):
            call = site.node
            keywords = {a.keyword.value for a in call.args if a.keyword}
            positional = sum(1 for a in call.args if a.keyword is None)
            missing = [f"{p.name}={code}" for p, code in added if p.name not in keywords and positional <= p.position]
            if missing:
                completions.append((call, missing))
                touched.add(site.statement)
                if guard is None and not site.in_function:
                    starts.append(site.statement)
    start = n - 1
    if guard is None:
        start = min([*starts, n - 1])
        trained_after = set().union(*(names for index, names in f.trained.items() if index >= start))
        start = _first_binding(tree.body[:start], trained_after, start)
        # constants defined inside the run are read from TUNED_PARAMS where they are assigned
        for name in list(rebound):
            if f.constants[name] >= start:
                rebound.remove(name)
                value = tree.body[f.constants[name]].body[0].value
                looked_up.append((name, value))
                touched.add(f.constants[name])
    return Plan(
        tuned=tuned,
        start=start,
        wrapped=wrapped,
        looked_up=looked_up,
        completions=completions,
        touched=touched,
        rebound=rebound,
        reapplied=[r for r in reapplied if r],
        uses_dataclass="dataclass" in kinds,
        uses_dict="dict" in kinds,
        uses_namespace="namespace" in kinds,
        uses_grid=bool(names & f.argparse_grids),
    )


def _first_binding(statements: Sequence[cst.BaseStatement], names: set[str], default: int) -> int:
    for index, statement in enumerate(statements):
        if m.matches(statement, m.SimpleStatementLine(body=[m.Assign()])):
            targets = statement.body[0].targets
            if any(isinstance(t.target, cst.Name) and t.target.value in names for t in targets):
                return index
    return default


def _holds(expression: cst.CSTNode, node: cst.CSTNode) -> bool:
    """Whether ``node`` is ``expression`` or inside it."""

    class Finder(cst.CSTVisitor):
        found = False

        def on_visit(self, candidate):
            if candidate is node:
                Finder.found = True
            return not Finder.found

    fast_visit(expression, Finder())
    return Finder.found


def _apply_helper(plan: Plan) -> cst.BaseStatement | None:
    if not (plan.uses_dataclass or plan.uses_dict or plan.uses_namespace or plan.reapplied):
        return None
    lines = [
        f"def {APPLY}(settings):",
        f'    """``settings`` with the tuned hyperparameters it holds set from {PARAMS}."""',
    ]
    if plan.uses_dict:
        lines += [
            "    if isinstance(settings, dict):",
            f"        return {{**settings, **{{k: v for k, v in {PARAMS}.items() if k in settings}}}}",
        ]
    if plan.uses_dataclass:
        lines += [
            "    if dataclasses.is_dataclass(settings):",
            "        fields = {f.name for f in dataclasses.fields(settings)}",
            f"        return dataclasses.replace(settings, **{{k: v for k, v in {PARAMS}.items() if k in fields}})",
        ]
    if plan.uses_grid:
        lines += [
            f"    for name, value in {PARAMS}.items():",
            "        if hasattr(settings, name):",
            "            # a list-valued option is a grid of values: the trial runs the one it picked",
            "            setattr(settings, name, [value] if isinstance(getattr(settings, name), list) else value)",
        ]
    elif plan.uses_namespace or not (plan.uses_dict or plan.uses_dataclass):
        lines += [
            f"    for name, value in {PARAMS}.items():",
            "        if hasattr(settings, name):",
            "            setattr(settings, name, value)",
        ]
    lines.append("    return settings")
    helper = _statement("\n".join(lines) + "\n")
    return helper.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])


def _returning(end: RunEnd, name: str) -> Callable[[cst.CSTNode], cst.CSTNode]:
    """The function ``name`` of the chain, made to return the metric (or its callee's result)."""

    def rewrite(node: cst.CSTNode) -> cst.CSTNode:
        assert isinstance(node, cst.FunctionDef) and isinstance(node.body, cst.IndentedBlock)
        body = list(node.body.body)
        position = end.chain.index(name)
        if position == len(end.chain) - 1:
            body.append(_statement(f"return {_code(end.metric.expression)}\n"))
        else:
            body[-1] = _return_last_call(body[-1])
        return node.with_changes(body=node.body.with_changes(body=body))

    return rewrite


def _return_last_call(statement: cst.BaseStatement) -> cst.BaseStatement:
    assert isinstance(statement, cst.SimpleStatementLine)
    call = statement.body[0].value
    return statement.with_changes(body=[cst.Return(value=call)])


def _run_function(region: list[cst.BaseStatement], plan: Plan, end: RunEnd) -> cst.FunctionDef:
    region = list(_indented(region).visit(_Unannotate()).body)
    bindings = _Bindings()
    fast_visit(_indented(region), bindings)
    global_names = [*plan.rebound, *(n for n in plan.reapplied if n not in plan.rebound)]
    global_names += [n for n in bindings.names if n not in global_names]
    if end.chain:
        region[-1] = _return_last_call(region[-1])
    else:
        region.append(_statement(f"return {_code(end.metric.expression)}\n"))
    leading = region[0].leading_lines
    region[0] = region[0].with_changes(leading_lines=())
    # blank lines between the moved statements: no indentation (no trailing whitespace)
    region = [
        statement.with_changes(
            leading_lines=[
                line.with_changes(indent=False) if line.comment is None else line for line in statement.leading_lines
            ]
        )
        for statement in region
    ]
    preamble = [
        _statement(
            f'"""The script\'s run with the hyperparameters in {PARAMS}; returns its {end.metric.text}."""\n'
        )
    ]
    # the run's names stay module globals, as they were (one `global` line per ~90 characters)
    line: list[str] = []
    for name in global_names:
        if line and len(", ".join([*line, name])) > 90:
            preamble.append(_statement(f"global {', '.join(line)}\n"))
            line = []
        line.append(name)
    if line:
        preamble.append(_statement(f"global {', '.join(line)}\n"))
    preamble += [_statement(f'{name} = {PARAMS}.get("{name}", {name})\n') for name in plan.rebound]
    preamble += [_statement(f"{name} = {APPLY}({name})\n") for name in plan.reapplied]
    function = _statement(f"def {RUN}():\n    pass\n")
    assert isinstance(function, cst.FunctionDef)
    comments = [line for line in leading if line.comment is not None]
    return function.with_changes(
        body=function.body.with_changes(body=[*preamble, *region]),
        leading_lines=[cst.EmptyLine(), cst.EmptyLine(), *comments],
    )


def _objective(plan: Plan) -> cst.FunctionDef:
    suggestions = "".join(f'            "{c.name}": {c.search.code(c.name)},\n' for c in plan.tuned)
    code = (
        "def objective(trial: optuna.Trial) -> float:\n"
        f"    {PARAMS}.update(\n"
        "        {\n"
        f"{suggestions}"
        "        }\n"
        "    )\n"
        f"    return float({RUN}())\n"
    )
    objective = _statement(code)
    return objective.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])


def _study_statements(direction: str) -> list[cst.BaseStatement]:
    return [
        _statement(
            f'study = optuna.create_study(direction="{direction}", sampler=optuna.samplers.TPESampler(seed=0))\n'
        ),
        _statement(
            "study.optimize(\n"
            "    objective,\n"
            f'    n_trials=int(os.environ.get("{TRIALS_ENV}", "{DEFAULT_TRIALS}")),\n'
            "    catch=(RuntimeError, ValueError, ArithmeticError),  # a failed trial is logged, the study goes on\n"
            ")\n"
        ),
        _statement('print(f"best params: {study.best_params}")\n'),
        _statement(f"{PARAMS}.update(study.best_params)\n"),
        _statement(f"{RUN}()\n"),
    ]
