"""The region of a script a small model rewrites, and splicing its answer back with libcst.

A region is a contiguous span of top-level statements: the top-level function/class that holds the
training code (plus, for HPO, the functions that call it), or for flat scripts the module-level
statements from the first training statement (with the simple assignments just before it, where
hyperparameters live) to the end of the file. Everything outside the span is kept byte-identical
by construction; imports the model writes in its region move to the module's import block.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from dataclasses import dataclass

import libcst as cst
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor

# Text of a statement that trains (or, for translations, versions data with git).
_TRAINING = re.compile(
    r"\.fit\s*\(|\.fit_transform\s*\(|\.backward\s*\(|\.step\s*\(|\.train_on_batch\s*\(|\btrainer\.|Trainer\s*\("
    r"|\.partial_fit\s*\(|\bgit\.|\bRepo\b|\.index\.(?:add|commit)\s*\(|\blfs\b"
)
_MAIN_GUARD = re.compile(r"^if\s+__name__\s*==\s*['\"]__main__['\"]")


@dataclass(frozen=True)
class Region:
    start: int  # index of the first top-level statement of the span
    end: int  # index one past the last
    code: str  # the span's source text, as in the file
    first_line: int  # 1-based line numbers of the span in the file
    last_line: int
    before: str = ""  # the file's text before and after the span
    after: str = ""

    def describe(self) -> str:
        return f"lines {self.first_line}-{self.last_line}"


def _statement_code(module: cst.Module, statement: cst.CSTNode) -> str:
    return module.code_for_node(statement)


def is_import(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Import, cst.ImportFrom)) for s in statement.body)


def _is_simple_assignment(statement: cst.CSTNode) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and all(
        isinstance(s, (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.Expr)) for s in statement.body)


def _is_docstring(statement: cst.CSTNode) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr) and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _defined_name(statement: cst.CSTNode) -> str | None:
    if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
        return statement.name.value
    return None


def _code_only(code: str) -> str:
    """``code`` without its strings and comments (a docstring that says "fit" does not train)."""
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO(code).readline)
                  if t.type not in (tokenize.STRING, tokenize.COMMENT)]
        return tokenize.untokenize(tokens)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return code


def _calls(code: str, names: set[str]) -> bool:
    return bool(names) and re.search(r"\b(?:%s)\s*\(" % "|".join(map(re.escape, sorted(names))), code) is not None


def select(module: cst.Module, action_id: str = "") -> Region | None:
    """The span to rewrite, or None when no statement trains (the caller then sends the whole file).

    The training statements are found by their calls (``fit``, ``backward``, ``step``...); the
    functions that call a training function are added, transitively (``main`` calls ``train_epoch``);
    the region is the span of the *drivers*: members no other member calls. A run, a study or a
    pruning schedule belongs around the epoch loop of the driver, not inside a helper. A translation
    takes the span of all members: every call of the old library changes."""
    body = list(module.body)
    driving = drivers(module, action_id)
    if not driving:
        return None
    first, last = driving[0], driving[-1]
    if _defined_name(body[first]) is None:
        # A flat script: take the hyperparameter assignments just before the first training
        # statement, and everything to the end (the outputs the script writes come after training).
        while first > 1 and _is_simple_assignment(body[first - 1]) or first == 1 and _is_simple_assignment(body[0]) and not _is_docstring(body[0]):
            first -= 1
        last = len(body) - 1
    return _region(module, body, first, last + 1)


def trains(code: str, trainers: set[str]) -> bool:
    """Whether ``code`` (a statement's text) trains: a training call, or a call of one of the
    script's ``trainers`` (its top-level functions and classes that train)."""
    code = _code_only(code)
    return _TRAINING.search(code) is not None or _calls(code, trainers)


def trainers(module: cst.Module) -> set[str]:
    """The names of the top-level functions and classes that train, or call one that does."""
    body = list(module.body)
    return {n for n in (_defined_name(body[i]) for i in _members(module)) if n}


def _members(module: cst.Module) -> set[int]:
    """Indexes of the top-level statements that train, and of those that call them, transitively."""
    body = list(module.body)
    raw = [_statement_code(module, s) for s in body]
    codes = [_code_only(code) for code in raw]
    members = {i for i, code in enumerate(codes) if not is_import(body[i]) and _TRAINING.search(code)}
    while members:
        names = {n for n in (_defined_name(body[i]) for i in members) if n}
        callers = {i for i, code in enumerate(codes)
                   if i not in members and not _MAIN_GUARD.match(raw[i].lstrip()) and not is_import(body[i])
                   and _calls(code, names - {_defined_name(body[i])})}
        if not callers:
            break
        members |= callers
    return members


def drivers(module: cst.Module, action_id: str = "") -> list[int]:
    """Indexes of the top-level statements where training is driven from: the members (see
    :func:`_members`) no other member calls; for a translation, all members."""
    body = list(module.body)
    codes = [_code_only(_statement_code(module, s)) for s in body]
    members = _members(module)
    if not members:
        return []
    def called_by_other(i: int) -> bool:
        name = _defined_name(body[i])
        return name is not None and any(j != i and _calls(codes[j], {name}) for j in members)
    drivers = sorted(i for i in members if not called_by_other(i)) or sorted(members)
    if action_id.startswith("translate."):
        drivers = sorted(members)  # a translation rewrites every call of the old library, helpers included
    return drivers


def body(module: cst.Module) -> Region | None:
    """The region of a whole-file rewrite: everything after the last top-level import (what runs
    between imports, ``os.environ.setdefault("KERAS_BACKEND", ...)``, must stay before them)."""
    statements = list(module.body)
    start = max((i + 1 for i, s in enumerate(statements) if is_import(s)), default=0)
    if start == 0 and statements and _is_docstring(statements[0]):
        start = 1
    return _region(module, statements, start, len(statements)) if start < len(statements) else None


def _region(module: cst.Module, body: list[cst.CSTNode], start: int, end: int) -> Region:
    prefix = module.code_for_node(module.with_changes(body=body[:start], footer=[])) if start else module.code_for_node(module.with_changes(body=[], footer=[]))
    span = "".join(_statement_code(module, s) for s in body[start:end])
    first_line = prefix.count("\n") + 1
    # Leading blank/comment lines belong to the statement in libcst; count from its first code line.
    leading = len(span) - len(span.lstrip("\n"))
    first_line += span[:leading].count("\n")
    source = module.code
    assert source.startswith(prefix + span), "libcst renders a module as the concatenation of its statements"
    after = source[len(prefix) + len(span):]
    return Region(start, end, span.strip("\n") + "\n", first_line, first_line + span.strip("\n").count("\n"),
                  before=prefix + span[:leading], after=after)


class SpliceError(ValueError):
    """The model's answer cannot be put in place of the region (one-line message for the model)."""


def import_requests(statement: cst.SimpleStatementLine) -> list[tuple[str, str | None, str | None]]:
    """(module, obj, asname) triples for AddImportsVisitor."""
    requests: list[tuple[str, str | None, str | None]] = []
    for small in statement.body:
        if isinstance(small, cst.Import):
            for alias in small.names:
                name = cst.helpers.get_full_name_for_node(alias.name) or ""
                asname = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else None
                requests.append((name, None, asname))
        elif isinstance(small, cst.ImportFrom):
            if small.relative or isinstance(small.names, cst.ImportStar) or small.module is None:
                raise SpliceError("use absolute imports without `*`")
            module = cst.helpers.get_full_name_for_node(small.module) or ""
            for alias in small.names:
                obj = cst.helpers.get_full_name_for_node(alias.name) or ""
                asname = alias.asname.name.value if alias.asname and isinstance(alias.asname.name, cst.Name) else None
                requests.append((module, obj, asname))
    return requests


def _bound_names(statement: cst.CSTNode) -> set[str]:
    """Names a top-level def, class or plain assignment binds."""
    if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
        return {statement.name.value}
    if isinstance(statement, cst.SimpleStatementLine):
        targets = [t.target for small in statement.body if isinstance(small, cst.Assign) for t in small.targets]
        targets += [small.target for small in statement.body if isinstance(small, cst.AnnAssign)]
        # `X_train, y_train = ...` binds both names.
        names = [e.value for t in targets if isinstance(t, (cst.Tuple, cst.List)) for e in t.elements] + targets
        return {t.value for t in names if isinstance(t, cst.Name)}
    return set()


def _imports_of(statement: cst.CSTNode) -> list[tuple[str, str | None, str | None]]:
    try:
        return import_requests(statement)  # type: ignore[arg-type]
    except SpliceError:  # a relative or star import of the original: nothing to compare with
        return []


def _same_statements(a: cst.CSTNode, b: cst.CSTNode) -> bool:
    return cst.Module(body=[a]).code.strip() == cst.Module(body=[b]).code.strip()  # type: ignore[list-item]


def _present(statement: cst.CSTNode, answer_lines: set[str]) -> bool:
    lines = {line.strip() for line in cst.Module(body=[statement]).code.splitlines()}  # type: ignore[list-item]
    return lines - {""} <= answer_lines


def _with_skipped_ends(original: list[cst.CSTNode], statements: list, answer: str) -> list:
    """Small models often start their answer at the statement they change, or stop after it: when
    the answer opens (or ends) with an unchanged statement of the region, and the region's statements
    before (after) it appear nowhere in the answer, they were left out, not deleted: keep them."""
    answer_lines = {line.strip() for line in answer.splitlines()}
    first = next((i for i, s in enumerate(original) if _same_statements(s, statements[0])), 0)
    if first and not any(_present(s, answer_lines) for s in original[:first]):
        opening = statements[0]
        if hasattr(opening, "leading_lines") and not opening.leading_lines:
            opening = opening.with_changes(leading_lines=original[first].leading_lines)
        statements = [*original[:first], opening, *statements[1:]]
    last = next((i for i in range(len(original) - 1, -1, -1) if _same_statements(original[i], statements[-1])), None)
    if last is not None and last < len(original) - 1 and not any(_present(s, answer_lines) for s in original[last + 1:]):
        statements = statements + original[last + 1:]
    return statements


def splice(module: cst.Module, region: Region, answer: str) -> str:
    """The file with ``region`` replaced by ``answer``; top-level imports of the answer are added to
    the module's imports (deduplicated). Of a whole file returned instead of the region, only the
    region's part is used: the code outside the region stays as it is, by construction."""
    try:
        returned = cst.parse_module(answer)
    except cst.ParserSyntaxError as exc:
        raise SpliceError(f"your code does not parse: line {exc.raw_line}: {exc.message.splitlines()[0][:120]}") from None
    body = list(module.body)
    outside = body[: region.start] + body[region.end:]
    # A whole file returned instead of the region goes the same way: what it repeats or rewrites
    # of the code outside the region is dropped below, so only its region is used.
    imports = [s for s in returned.body if is_import(s)]
    statements = [s for s in returned.body if not is_import(s)]
    # Statements the model copied from outside the region (an unchanged helper, a repeated
    # constant) must not be duplicated.
    statements = [s for s in statements if not any(_same_statements(s, o) for o in outside)]
    # A definition of a name the file defines outside the region is that code rewritten (a small
    # model "fixes" a helper it was only shown): the region contract keeps the original.
    defined_outside = {name for o in outside if not is_import(o) for name in _bound_names(o)}
    statements = [s for s in statements if not _bound_names(s) & defined_outside]
    if not statements:
        first = region.code.strip().splitlines()[0]
        raise SpliceError(f"your answer repeats code from outside the region; return the REGION ({region.describe()}), "
                          f"which starts with `{first[:80]}`, rewritten to do the task")
    statements = _with_skipped_ends(body[region.start:region.end], statements, answer)
    first_original = body[region.start]
    # Keep the blank lines/comments that separated the region from what precedes it.
    if hasattr(first_original, "leading_lines") and hasattr(statements[0], "leading_lines"):
        statements[0] = statements[0].with_changes(leading_lines=first_original.leading_lines)
    new_module = module.with_changes(body=body[: region.start] + statements + body[region.end:])
    # Only imports the kept code uses: those of dropped statements (a rewritten helper) would linger.
    used = set(re.findall(r"\b\w+\b", "".join(cst.Module(body=[s]).code for s in statements)))
    requests = [r for s in imports for r in import_requests(s)  # type: ignore[arg-type]
                if (r[2] or r[1] or r[0].split(".")[0]) in used]
    if not requests:
        return new_module.code
    return with_imports(new_module, requests).code


def _module_scope_names(code: str) -> set[str]:
    """The names the code binds in module scope (in top-level blocks too, not in functions): a name
    bound only inside a function (``lr = trial.suggest_float(...)`` in ``objective``) and read
    elsewhere still needs the original's global."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(child.name)
            elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
            elif not isinstance(child, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                visit(child)

    tree = ast.parse(code)
    visit(tree)
    return names | {name for node in ast.walk(tree) if isinstance(node, ast.Global) for name in node.names}


def _read_names(statement: cst.CSTNode) -> set[str]:
    code = cst.Module(body=[statement]).code  # type: ignore[list-item]
    return {node.id for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}


def _is_assignment(statement: cst.CSTNode) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], (cst.Assign, cst.AnnAssign)) and statement.body[0].value is not None)


def restore_definitions(original: cst.Module, code: str, names: set[str]) -> str:
    """``code`` with the original's top-level assignments and definitions of ``names`` put back, with
    the assignments of the names they read that ``code`` lacks, in their original order, before the first top-level
    statement that reads them. Small models rewriting a file start it at the line they change and
    leave out what precedes it (``max_depth = 4``, ``X_train, y_train, ... = ...``) while keeping
    the uses; a repair round rarely brings the lines back."""
    assigned = _module_scope_names(code)
    candidates = [s for s in original.body
                  if (_is_assignment(s) or isinstance(s, (cst.FunctionDef, cst.ClassDef))) and _bound_names(s)]
    wanted, chosen = set(names), []
    while True:
        more = [s for s in candidates if s not in chosen and _bound_names(s) & wanted and not _bound_names(s) & assigned]
        if not more:
            break
        chosen += more
        # A function reads its globals when called, not where it is defined: only assignments pull in more.
        wanted |= {n for s in more if _is_assignment(s) for n in _read_names(s)} - assigned
    if not chosen:
        return code
    chosen.sort(key=lambda s: candidates.index(s))
    bound = {n for s in chosen for n in _bound_names(s)}
    module = cst.parse_module(code)
    body = list(module.body)
    # Read by the syntax tree: an f-string's fields are reads (`print(f"mae: {test_mae}")`, the usual last line).
    readers = [i for i, s in enumerate(body) if not is_import(s) and _read_names(s) & bound]
    # A function reads globals when called: it comes before its definition only if nothing at top level reads them.
    uses = [i for i in readers if not isinstance(body[i], (cst.FunctionDef, cst.ClassDef))] or readers
    if not uses:
        return code
    at = uses[0]
    user = body[at]
    # The block takes the blank lines above its first user, so the layout stays the same.
    block = [chosen[0].with_changes(leading_lines=getattr(user, "leading_lines", [])), *chosen[1:]]
    body[at:at + 1] = [*block, user.with_changes(leading_lines=[]) if hasattr(user, "leading_lines") else user]
    return module.with_changes(body=body).code


# Names a model often uses without importing them, and the import that defines each.
AUTO_IMPORTS: dict[str, tuple[str, str | None, str | None]] = {
    "os": ("os", None, None), "sys": ("sys", None, None), "json": ("json", None, None), "time": ("time", None, None),
    "math": ("math", None, None), "mlflow": ("mlflow", None, None), "wandb": ("wandb", None, None),
    "optuna": ("optuna", None, None), "nncf": ("nncf", None, None), "np": ("numpy", None, "np"),
    "prune": ("torch.nn.utils", "prune", None), "DvcRepo": ("dvc.repo", "Repo", "DvcRepo"),
    "infer_signature": ("mlflow.models", "infer_signature", None),
}


def add_missing_imports(code: str, names: set[str]) -> str:
    """``code`` with the imports of those ``names`` that :data:`AUTO_IMPORTS` knows added at the top."""
    known = [AUTO_IMPORTS[n] for n in sorted(names) if n in AUTO_IMPORTS]
    if not known:
        return code
    return with_imports(cst.parse_module(code), known).code


def with_imports(module: cst.Module, requests: list[tuple[str, str | None, str | None]]) -> cst.Module:
    """``module`` with the imports added to its header (up to its last top-level import), as the
    codemods do: AddImportsVisitor on a whole module misses imports that follow other statements
    (``os.environ.setdefault("KERAS_BACKEND", ...)`` then ``import keras``) and adds them again above,
    so imports the module has anywhere at top level are not requested."""
    body = list(module.body)
    present = {r for s in body if is_import(s) for r in _imports_of(s)}
    requests = [r for r in requests if r not in present]
    if not requests:
        return module
    end = max((i + 1 for i, s in enumerate(body) if is_import(s)), default=0)
    if end == 0 and body and _is_docstring(body[0]):
        end = 1
    context = CodemodContext()
    for module_name, obj, asname in requests:
        AddImportsVisitor.add_needed_import(context, module_name, obj, asname)
    header = AddImportsVisitor(context).transform_module(module.with_changes(body=body[:end]))
    return module.with_changes(body=[*header.body, *body[end:]])
