"""Subprocess of :mod:`mlops_lsp.attrcheck`: resolves dotted paths in the installed libraries.

Protocol, JSON lines: request ``{"paths": ["mlflow.log_model", ...], "hints": ["sklearn"]}``,
answer ``{"results": {"mlflow.log_model": "mlflow has no attribute log_model; did you mean ...?" | null}}``.
Imports the libraries (that is why it is a separate process).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import json
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from mlops_lsp.jsonworker import protocol_stdout

# Flavour submodules named after the framework a script uses (mlflow.pytorch for torch).
_HINT_ALIASES = {"torch": "pytorch", "sklearn": "sklearn", "lightning": "pytorch", "pytorch_lightning": "pytorch",
                 "keras": "keras", "tensorflow": "tensorflow"}


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except Exception:  # a submodule whose optional dependency is missing is just "not there"
        return None


def _resolve(path: str) -> tuple[Any, int]:
    """Walk ``path``; returns (last object reached, number of parts resolved)."""
    parts = path.split(".")
    current: Any = _import(parts[0])
    if current is None:
        return None, 0
    for i, part in enumerate(parts[1:], start=1):
        if hasattr(current, part):
            current = getattr(current, part)
            continue
        if isinstance(current, ModuleType):
            sub = _import(f"{current.__name__}.{part}")
            if sub is not None:
                current = sub
                continue
        return current, i
    return current, len(parts)


def _defining_submodules(package: ModuleType, name: str) -> list[str]:
    """Submodules (one level) of ``package`` whose source defines or re-exports ``name``, found by
    reading their files (no import: flavours pull in heavy frameworks)."""
    found: list[str] = []
    paths = getattr(package, "__path__", None)
    if not paths:
        return found
    pattern = re.compile(rf"^(?:def|class)\s+{re.escape(name)}\b|^{re.escape(name)}\s*=|import[^\n]*\b{re.escape(name)}\b", re.M)
    for info in pkgutil.iter_modules(paths):
        if info.name.startswith("_"):
            continue
        base = Path(info.module_finder.path) / info.name  # type: ignore[attr-defined]
        file = base / "__init__.py" if info.ispkg else base.with_suffix(".py")
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if pattern.search(text):
            found.append(f"{package.__name__}.{info.name}")
    return found


def _suggest(parent: Any, parent_path: str, name: str, hints: list[str]) -> str:
    candidates: list[str] = []
    if isinstance(parent, ModuleType):
        owners = _defining_submodules(parent, name)
        preferred = [o for o in owners if o.rsplit(".", 1)[-1] in {_HINT_ALIASES.get(h, h) for h in hints}]
        candidates = [f"{o}.{name}" for o in (preferred or owners)[:3]]
    if not candidates:
        close = difflib.get_close_matches(name, [n for n in dir(parent) if not n.startswith("_")], n=3, cutoff=0.6)
        candidates = [f"{parent_path}.{c}" for c in close]
    return f"; did you mean {' or '.join(candidates)}?" if candidates else ""


def check(path: str, hints: list[str]) -> str | None:
    obj, resolved = _resolve(path)
    parts = path.split(".")
    if resolved == len(parts):
        return None
    if resolved == 0:
        return f"{parts[0]} is not installed"
    parent_path = ".".join(parts[:resolved])
    missing = parts[resolved]
    return f"{parent_path} has no attribute {missing}{_suggest(obj, parent_path, missing, hints)}"


def main() -> int:
    channel = protocol_stdout()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            hints = list(request.get("hints", []))
            results = {path: check(path, hints) for path in request["paths"]}
            answer: dict[str, Any] = {"results": results}
        except Exception as exc:  # answer every request, so the parent never waits forever
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        channel.write(json.dumps(answer) + "\n")
        channel.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
