"""Every attribute path of the target library used in new code must exist in the installed version.

Paths are collected here with ``ast`` (import aliases resolved: ``import mlflow.sklearn as ms``
makes ``ms.log_model`` into ``mlflow.sklearn.log_model``); they are resolved in a kept-alive
subprocess (:mod:`mlops_lsp.attrcheck_worker`), because importing the libraries in the editor
process is not allowed. Results are cached per (path, installed version).
"""

from __future__ import annotations

import ast
import importlib.metadata
import logging
import threading

from .jsonworker import JsonWorker, WorkerError

log = logging.getLogger(__name__)

# Import name -> distribution, where they differ.
_DISTRIBUTIONS = {"sklearn": "scikit-learn", "git": "GitPython"}
_cache: dict[tuple[str, str], str | None] = {}
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


class _Collector(ast.NodeVisitor):
    def __init__(self, aliases: dict[str, str]) -> None:
        self.aliases = aliases
        self.paths: list[str] = []

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


def problems(code: str, libraries: set[str], hints: set[str] = frozenset(), *,  # type: ignore[assignment]
             cancel: threading.Event | None = None) -> list[str]:
    """One message per attribute path that does not resolve, with a suggestion when one exists.
    A worker failure is logged and yields no problems (the check is advisory; the bench still runs the code)."""
    paths = library_paths(code, libraries)
    todo = [p for p in paths if (p, _version(p.split(".")[0])) not in _cache]
    if todo:
        try:
            answer = _get_worker().request({"paths": todo, "hints": sorted(hints)}, TIMEOUT, cancel)
        except WorkerError as exc:
            log.warning("attribute check skipped: %s", exc)
            return []
        if "error" in answer:
            log.warning("attribute check failed: %s", answer["error"])
            return []
        for path, message in answer["results"].items():
            _cache[(path, _version(path.split(".")[0]))] = message
    found = [_cache.get((p, _version(p.split(".")[0]))) for p in paths]
    # One message per missing attribute: "a.b.c" and "a.b.c.d" fail for the same reason.
    return list(dict.fromkeys(m for m in found if m))


def close() -> None:
    global _worker
    with _worker_lock:
        if _worker is not None:
            _worker.close()
            _worker = None
