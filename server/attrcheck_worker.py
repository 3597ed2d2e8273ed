"""Subprocess of :mod:`mlops_lsp.attrcheck`: resolves dotted paths in the installed libraries.

Protocol, JSON lines: request ``{"paths": ["mlflow.log_model", ...], "calls": [call shape, ...],
"hints": ["sklearn"]}`` with call shapes ``{"path": "nncf.prune", "positional": 3, "keywords": ["ratio"],
"star_args": false, "star_kwargs": false}``; answer ``{"results": {"mlflow.log_model": "mlflow has no
attribute log_model; did you mean ...?" | null}, "calls": [message | null, ...], "values": [message | null, ...]}``
(calls and values in request order). A value is ``{"name": "study", "callee": "optuna.create_study",
"attribute": "best_params_"}``: the attribute read from what the callee returns.
Imports the libraries (that is why it is a separate process).
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import inspect
import json
import os
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from mlops_lsp.jsonworker import protocol_stdout

# Flavour submodules named after the framework a script uses (mlflow.pytorch for torch).
_HINT_ALIASES = {"torch": "pytorch", "sklearn": "sklearn", "lightning": "pytorch", "pytorch_lightning": "pytorch",
                 "keras": "keras", "tensorflow": "tensorflow"}


def _import(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except Exception:  # a submodule whose optional dependency is missing is just "not there"
        return None


# Stands for an attribute that exists but cannot be read in the worker: the path counts as resolved
# and, not being callable, its calls are not judged.
_UNINSPECTABLE = object()


def _resolve(path: str) -> tuple[Any, int]:
    """Walk ``path``; returns (last object reached, number of parts resolved)."""
    parts = path.split(".")
    current: Any = _import(parts[0])
    if current is None:
        return None, 0
    for i, part in enumerate(parts[1:], start=1):
        try:
            current = getattr(current, part)
            continue
        except AttributeError:
            pass
        except Exception as exc:  # a proxy that refuses before setup (wandb.config before wandb.init)
            print(f"attrcheck: {'.'.join(parts[:i + 1])} cannot be inspected ({type(exc).__name__}: {exc});"
                  " not judged", file=sys.stderr)
            return _UNINSPECTABLE, len(parts)
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


_MAX_LISTED = 12  # parameter names listed in a message; mlflow flavours have 20+


def _plural(names: list[str], one: str, many: str) -> str:
    quoted = ", ".join(f"'{n}'" for n in names)
    return f"{one} {quoted}" if len(names) == 1 else f"{many} {quoted}"


def _listed(params: list[inspect.Parameter], wanted: set[str]) -> str:
    """Parameter names in declaration order: the ``wanted`` ones (required, close matches) always,
    the others while there is room."""
    room = max(_MAX_LISTED - len(wanted), 0)
    shown = []
    for p in params:
        if p.name in wanted:
            shown.append(p.name)
        elif room:
            shown.append(p.name)
            room -= 1
    return ", ".join(shown) + (", ..." if len(shown) < len(params) else "")


def _is_required(p: inspect.Parameter) -> bool:
    return p.default is inspect.Parameter.empty and p.kind not in (
        inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _unknown_keywords(name: str, params: list[inspect.Parameter], unknown: list[str]) -> str:
    keywordable = [p for p in params if p.kind is not inspect.Parameter.POSITIONAL_ONLY]
    names = [p.name for p in keywordable]
    close = list(dict.fromkeys(c for k in unknown for c in difflib.get_close_matches(k, names, n=2, cutoff=0.6)))
    required = {p.name for p in keywordable if _is_required(p)}
    guess = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return (f"{name}() has no {_plural(unknown, 'parameter', 'parameters')}{guess}; "
            f"its parameters are: {_listed(keywordable, required | set(close))}")


def _too_many_positional(name: str, params: list[inspect.Parameter], given: int) -> str:
    slots = [p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                  inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    takes = f"takes {len(slots)}: {', '.join(slots)}" if slots else "takes none"
    keyword_only = [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]
    by_keyword = f"; pass {', '.join(keyword_only)} by keyword" if keyword_only else ""
    return f"{name}() got too many positional arguments ({given} given, {takes}){by_keyword}"


def _missing(params: list[inspect.Parameter], positional: int, keywords: list[str]) -> list[str]:
    slots = [p for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                                             inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    filled = {p.name for p in slots[:positional]} | set(keywords)
    return [p.name for p in params if _is_required(p) and p.name not in filled]


def _signatures(obj: Any) -> list[inspect.Signature]:
    """The signatures ``obj`` may have when called; empty when it has none (builtins, C functions).
    A module-level function that wraps an unbound method (``wandb.log`` stands for ``Run.log`` of the
    current run: its ``__wrapped__`` still has ``self``) is called without ``self``; when that cannot be
    told apart from a decorated method called through its class, both readings are candidates."""
    try:
        signature = inspect.signature(obj)  # classes: __init__ without self; classmethods: bound
    except (TypeError, ValueError):
        return []
    params = list(signature.parameters.values())
    wraps_method = (not isinstance(obj, type) and inspect.unwrap(obj) is not obj
                    and bool(params) and params[0].name in {"self", "cls"})
    if wraps_method:
        return [signature.replace(parameters=params[1:]), signature]
    return [signature]


def _bind_problem(path: str, signature: inspect.Signature, call: dict[str, Any]) -> str | None:
    params = list(signature.parameters.values())
    positional, keywords = int(call["positional"]), list(call["keywords"])
    star_args, star_kwargs = bool(call["star_args"]), bool(call["star_kwargs"])
    takes_any_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    takes_any_positional = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    named = {p.name for p in params if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                  inspect.Parameter.KEYWORD_ONLY)}
    unknown = [k for k in keywords if k not in named]
    if unknown and not takes_any_keyword:
        return _unknown_keywords(path, params, unknown)
    slot_count = sum(1 for p in params if p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                                                     inspect.Parameter.POSITIONAL_OR_KEYWORD))
    if not star_args and not takes_any_positional and positional > slot_count:
        return _too_many_positional(path, params, positional)
    if star_args or star_kwargs:  # a spread may fill any remaining parameter: bind cannot judge
        return None
    try:
        signature.bind(*[None] * positional, **{k: None for k in keywords})
        return None
    except TypeError as exc:
        missing = _missing(params, positional, keywords)
        if not missing:  # e.g. a value given both by position and by keyword
            return f"{path}(): {exc}"
        # With **kwargs the wrong name was accepted silently; say which one it probably was.
        swallowed = ""
        if unknown:
            verb = "is" if len(unknown) == 1 else "are"
            swallowed = f"; {', '.join(repr(k) for k in unknown)} {verb} not among its named parameters"
            meant = [m for k in unknown for m in difflib.get_close_matches(k, missing, n=1, cutoff=0.6)]
            swallowed += f" (did you mean {' or '.join(repr(m) for m in meant)}?)" if meant else ""
        return f"{path}() is missing its required {_plural(missing, 'argument', 'arguments')}{swallowed}"


def call_problem(call: dict[str, Any]) -> str | None:
    """Why the call shape does not bind to the installed signature of ``call["path"]``, or None
    (also when the path does not resolve: that has its own message, or has no signature)."""
    path: str = call["path"]
    obj, resolved = _resolve(path)
    if resolved != len(path.split(".")) or not callable(obj):
        return None
    found = [_bind_problem(path, signature, call) for signature in _signatures(obj)]
    # Any reading that binds clears the call: the check must not reject code that runs.
    return found[0] if found and all(found) else None


def _returned_class(callee: Any) -> type | None:
    """The class a call of ``callee`` returns: the class itself, or the callee's declared return type
    when it names one class (``-> "Study"``, resolved in the callee's module); None when unknown."""
    if isinstance(callee, type):
        return callee
    try:
        annotation = inspect.signature(callee).return_annotation
    except (TypeError, ValueError):
        return None
    if isinstance(annotation, str):
        if not re.fullmatch(r"[A-Za-z_][\w.]*", annotation.strip("'\"")):
            return None  # a union, a generic, an optional: not one class
        found: Any = getattr(inspect.unwrap(callee), "__globals__", {})
        for part in annotation.strip("'\"").split("."):
            found = found.get(part) if isinstance(found, dict) else getattr(found, part, None)
        annotation = found
    if annotation is inspect.Signature.empty or annotation is object or annotation is Any:
        return None  # undeclared, or declared as anything
    return annotation if isinstance(annotation, type) else None


_SELF_ASSIGNMENT = re.compile(r"\bself\.(\w+)\s*(?::[^=\n]+)?=(?!=)")


def _instance_attributes(cls: type) -> set[str] | None:
    """Names instances of ``cls`` may have beyond its class attributes (``self.x = ...`` in its
    methods, annotations, slots); None when that cannot be told (no source, ``__getattr__``)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if klass is object:
            continue
        if "__getattr__" in vars(klass) or "__getattribute__" in vars(klass):
            return None
        names |= set(getattr(klass, "__annotations__", {})) | set(getattr(klass, "__slots__", ()))
        try:
            names |= set(_SELF_ASSIGNMENT.findall(inspect.getsource(klass)))
        except (OSError, TypeError):
            return None
    return names


def value_problem(value: dict[str, Any]) -> str | None:
    """Why ``value["attribute"]`` cannot be read from what ``value["callee"]`` returns, or None."""
    callee, resolved = _resolve(value["callee"])
    if resolved != len(value["callee"].split(".")) or not callable(callee):
        return None
    cls = _returned_class(callee)
    attribute = value["attribute"]
    if cls is None or hasattr(cls, attribute):
        return None
    instance = _instance_attributes(cls)
    if instance is None or attribute in instance:
        return None
    public = sorted({n for n in [*dir(cls), *instance] if not n.startswith("_")})
    close = difflib.get_close_matches(attribute, public, n=2, cutoff=0.6)
    guess = f"; did you mean {' or '.join(close)}?" if close else ""
    return (f"{value['name']} (the value of {value['callee']}()) has no attribute {attribute}: "
            f"it is a {cls.__module__}.{cls.__qualname__}{guess}")


def _judged(judge: Callable[..., str | None], item: Any, *args: Any) -> str | None:
    """One item's verdict; a failure while judging it is reported on stderr and gives no problem,
    so one odd library object does not cost the answers for the whole request."""
    try:
        return judge(item, *args)
    except Exception as exc:
        print(f"attrcheck: {item!r} not judged: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


def main() -> int:
    # The backend the benchmark runs Keras scripts with; Keras' default (TensorFlow) is not installed,
    # and without it every mlflow.keras path fails to import here.
    os.environ.setdefault("KERAS_BACKEND", "torch")
    channel = protocol_stdout()
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            hints = list(request.get("hints", []))
            results = {path: _judged(check, path, hints) for path in request["paths"]}
            calls = [_judged(call_problem, call) for call in request.get("calls", [])]
            values = [_judged(value_problem, value) for value in request.get("values", [])]
            answer: dict[str, Any] = {"results": results, "calls": calls, "values": values}
        except Exception as exc:  # answer every request, so the parent never waits forever
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        channel.write(json.dumps(answer) + "\n")
        channel.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
