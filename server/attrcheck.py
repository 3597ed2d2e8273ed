"""Every attribute path of the target library used in new code must exist in the installed version.

Paths are collected here with ``ast`` (import aliases resolved: ``import mlflow.sklearn as ms``
makes ``ms.log_model`` into ``mlflow.sklearn.log_model``); they are resolved in a kept-alive
subprocess (:mod:`mlops_lsp.attrcheck_worker`), because importing the libraries in the editor
process is not allowed. Results are cached per (path, installed version).

Calls of library functions and classes are checked too: their shape (number of positional
arguments, keyword names, ``*x``/``**x``) must bind to the signature in the installed version
(``mlflow.sklearn.log_model(model=m)`` lacks ``sk_model``). Attributes of a value a library call
returns are checked against the returned class when the callee declares it (``study =
optuna.create_study()`` then ``study.best_params_``; ``dvc_repo = DvcRepo.init()`` then
``dvc_repo.config_writer``); other calls on instances are not judged.
"""

from __future__ import annotations

import ast
import importlib.metadata
import logging
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

import libcst as cst

from .jsonworker import JsonWorker, WorkerError

log = logging.getLogger(__name__)

# Import name -> distribution, where they differ.
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "git": "GitPython"}
_cache: dict[tuple[str, str], str | None] = {}
_call_cache: dict[tuple[CallShape, str], str | None] = {}
_value_cache: dict[tuple[ValueAttribute, str], str | None] = {}
_worker: JsonWorker | None = None
_worker_lock = threading.Lock()
TIMEOUT = 120.0  # first use imports the library (torch, mlflow: seconds)


def _aliases(tree: ast.AST) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    aliases[root] = root
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    # A name the code also assigns (``from optuna import study`` then ``study = optuna.create_study()``)
    # may not be the module where it is used: without scopes, do not judge it.
    rebound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    rebound |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments)
                for a in [*n.posonlyargs, *n.args, *n.kwonlyargs, n.vararg, n.kwarg] if a is not None}
    return {name: path for name, path in aliases.items() if name not in rebound}


def import_roots(tree: ast.AST) -> dict[str, str]:
    """Each imported name (not rebound) -> the top-level module it comes from."""
    return {name: path.split(".")[0] for name, path in _aliases(tree).items()}


@dataclass(frozen=True)
class CallShape:
    """What a call site tells about its arguments, without knowing their values."""
    path: str
    positional: int  # positional arguments written out (``*x`` not counted)
    keywords: tuple[str, ...]  # keyword names written out (``**x`` not counted)
    star_args: bool  # ``*x`` present: the positional count is unknown
    star_kwargs: bool  # ``**x`` present: which keywords are passed is unknown

    def as_json(self) -> dict[str, Any]:
        return {"path": self.path, "positional": self.positional, "keywords": list(self.keywords),
                "star_args": self.star_args, "star_kwargs": self.star_kwargs}


@dataclass(frozen=True)
class ValueAttribute:
    """``name.attribute`` where ``name`` is assigned once, from a call of the library path ``callee``."""
    name: str
    callee: str
    attribute: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "callee": self.callee, "attribute": self.attribute}


def _call_shape(path: str, node: ast.Call) -> CallShape:
    return CallShape(
        path=path,
        positional=sum(1 for a in node.args if not isinstance(a, ast.Starred)),
        keywords=tuple(k.arg for k in node.keywords if k.arg is not None),
        star_args=any(isinstance(a, ast.Starred) for a in node.args),
        star_kwargs=any(k.arg is None for k in node.keywords))


class _Collector(ast.NodeVisitor):
    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases
        self.paths: list[str] = []
        self.calls: list[CallShape] = []

    def dotted(self, node: ast.AST) -> str | None:
        """``node`` as a dotted library path when it is a name or attribute chain on an import alias."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in self.aliases:
            return ".".join([self.aliases[node.id], *reversed(parts)])
        return None

    def visit_Call(self, node: ast.Call) -> None:
        path = self.dotted(node.func)
        if path is not None:
            self.calls.append(_call_shape(path, node))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        parts: list[str] = []
        target: ast.AST = node
        while isinstance(target, ast.Attribute):
            parts.append(target.attr)
            target = target.value
        if isinstance(target, ast.Name) and target.id in self.aliases:
            self.paths.append(".".join([self.aliases[target.id], *reversed(parts)]))
        else:
            self.visit(target)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in self.aliases and "." in self.aliases[node.id]:
            self.paths.append(self.aliases[node.id])


def library_paths(code: str, libraries: set[str]) -> list[str]:
    """Dotted paths (aliases resolved) rooted in one of ``libraries``, in first-use order."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    aliases = _aliases(tree)
    collector = _Collector(aliases)
    collector.visit(tree)
    imported = [full for full in aliases.values()]
    paths = [p for p in [*imported, *collector.paths] if p.split(".")[0] in libraries]
    return list(dict.fromkeys(paths))


def library_calls(code: str, libraries: set[str]) -> list[CallShape]:
    """Calls whose callee is a dotted path rooted in one of ``libraries``, in order, without repeats."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    collector = _Collector(_aliases(tree))
    collector.visit(tree)
    calls = [c for c in collector.calls if c.path.split(".")[0] in libraries]
    return list(dict.fromkeys(calls))


def library_call_counts(code: str, libraries: set[str]) -> Counter[str]:
    """How many calls of each dotted callee rooted in one of ``libraries`` the code makes."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return Counter()
    collector = _Collector(_aliases(tree))
    collector.visit(tree)
    return Counter(c.path for c in collector.calls if c.path.split(".")[0] in libraries)


def library_value_attributes(code: str, libraries: set[str]) -> list[ValueAttribute]:
    """Attributes read from names bound once, by a plain assignment, to a call of a library path."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    collector = _Collector(_aliases(tree))
    stores = Counter(n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    stores.update(a.arg for a in ast.walk(tree) if isinstance(a, ast.arg))
    typed: dict[str, str] = {}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Call) and stores[node.targets[0].id] == 1):
            callee = collector.dotted(node.value.func)
            if callee is not None and callee.split(".")[0] in libraries:
                typed[node.targets[0].id] = callee
    uses = [ValueAttribute(node.value.id, typed[node.value.id], node.attr) for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in typed]
    return list(dict.fromkeys(sorted(uses, key=lambda u: (u.name, u.attribute))))


def _version(library: str) -> str:
    try:
        return importlib.metadata.version(_DISTRIBUTIONS.get(library, library))
    except importlib.metadata.PackageNotFoundError:
        return "not-installed"


def _get_worker() -> JsonWorker:
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = JsonWorker("mlops_lsp.attrcheck_worker")
        return _worker


def _path_key(path: str) -> tuple[str, str]:
    return path, _version(path.split(".")[0])


def _call_key(call: CallShape) -> tuple[CallShape, str]:
    return call, _version(call.path.split(".")[0])


def _value_key(value: ValueAttribute) -> tuple[ValueAttribute, str]:
    return value, _version(value.callee.split(".")[0])


def _ask_worker(paths: list[str], calls: list[CallShape], values: list[ValueAttribute], hints: set[str],
                cancel: threading.Event | None) -> bool:
    """Fills the caches for ``paths``, ``calls`` and ``values``; False (logged) when the worker could not answer."""
    request = {"paths": paths, "calls": [c.as_json() for c in calls], "values": [v.as_json() for v in values],
               "hints": sorted(hints)}
    try:
        answer = _get_worker().request(request, TIMEOUT, cancel)
    except WorkerError as exc:
        log.warning("attribute check skipped: %s", exc)
        return False
    if "error" in answer:
        log.warning("attribute check failed: %s", answer["error"])
        return False
    for path, message in answer["results"].items():
        _cache[_path_key(path)] = message
    # The call answers are a list in request order (a shape has no natural JSON key).
    for call, message in zip(calls, answer["calls"], strict=True):
        _call_cache[_call_key(call)] = message
    for value, message in zip(values, answer["values"], strict=True):
        _value_cache[_value_key(value)] = message
    return True


def problems(code: str, libraries: set[str], hints: set[str] = frozenset(), *,  # type: ignore[assignment]
             cancel: threading.Event | None = None) -> list[str]:
    """One message per attribute path that does not resolve (with a suggestion when one exists), then one
    per call that does not bind to the installed signature. A worker failure is logged and yields no
    problems (the check is advisory; the bench still runs the code)."""
    paths = library_paths(code, libraries)
    calls = library_calls(code, libraries)
    values = library_value_attributes(code, libraries)
    todo_paths = [p for p in paths if _path_key(p) not in _cache]
    todo_calls = [c for c in calls if _call_key(c) not in _call_cache]
    todo_values = [v for v in values if _value_key(v) not in _value_cache]
    if (todo_paths or todo_calls or todo_values) and not _ask_worker(todo_paths, todo_calls, todo_values, hints, cancel):
        return []
    found = [_cache.get(_path_key(p)) for p in paths]
    # A call of a path that does not exist already has its message: say it once.
    found += [_call_cache.get(_call_key(c)) for c in calls if not _cache.get(_path_key(c.path))]
    found += [_value_cache.get(_value_key(v)) for v in values if not _cache.get(_path_key(v.callee))]
    # One message per missing attribute: "a.b.c" and "a.b.c.d" fail for the same reason.
    return list(dict.fromkeys(m for m in found if m))


def without_fitted_underscores(code: str, libraries: set[str], hints: set[str] = frozenset(), *,  # type: ignore[assignment]
                               cancel: threading.Event | None = None) -> str:
    """``code`` with ``study.best_params_`` (scikit-learn's spelling of fitted attributes) read as
    ``study.best_params`` where the value's class has that attribute and not the other. Small models
    keep the habit through repair rounds that name the right attribute (every sklearn HPO sample of
    session 7's run); the code is checked again afterwards like any answer."""
    values = [v for v in library_value_attributes(code, libraries)
              if v.attribute.endswith("_") and v.attribute.strip("_") and not v.attribute.startswith("_")]
    if not values:
        return code
    plain = [ValueAttribute(v.name, v.callee, v.attribute.rstrip("_")) for v in values]
    todo = [v for v in [*values, *plain] if _value_key(v) not in _value_cache]
    if todo and not _ask_worker([], [], todo, hints, cancel):
        return code
    # A message for the written name and none for the plain one: the class is known and has the plain one.
    renames = {(v.name, v.attribute): p.attribute for v, p in zip(values, plain, strict=True)
               if _value_cache.get(_value_key(v)) and not _value_cache.get(_value_key(p))}
    if not renames:
        return code
    log.info("fitted-attribute spelling corrected: %s",
             ", ".join(f"{name}.{attribute} -> {new}" for (name, attribute), new in renames.items()))
    try:
        return cst.parse_module(code).visit(_AttributeRenamer(renames)).code
    except cst.ParserSyntaxError as exc:  # ast read it; libcst may lag behind a new syntax
        log.warning("fitted-attribute spelling not corrected: %s", exc)
        return code


class _AttributeRenamer(cst.CSTTransformer):
    def __init__(self, renames: dict[tuple[str, str], str]) -> None:
        self.renames = renames

    def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute) -> cst.Attribute:
        if isinstance(updated_node.value, cst.Name):
            new = self.renames.get((updated_node.value.value, updated_node.attr.value))
            if new is not None:
                return updated_node.with_changes(attr=cst.Name(new))
        return updated_node


def close() -> None:
    global _worker
    with _worker_lock:
        if _worker is not None:
            _worker.close()
            _worker = None
