"""Public-API extractor. Runs as a separate script, never imported by the editor process.

Usage: ``python _extract_worker.py OUT.json < spec.json``

The spec names the modules to import and which members are public; the worker imports them
(this is why it must run in a subprocess: mlflow, torch, nncf... are slow and heavy), reads
qualified names, signatures and docstrings with ``inspect``, and writes JSON records. It only
uses the standard library so that it does not depend on the ``mlops_lsp`` package at all.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import re
import sys
import warnings
from typing import Any

MAX_SIGNATURE_CHARS = 600
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # some CLIs colour their help (DVC's URLs)


def _log(message: str) -> None:
    print(f"[docs-index extract] {message}", file=sys.stderr)


def _signature(obj: Any) -> str:
    try:
        text = str(inspect.signature(obj))
    except (TypeError, ValueError):
        return ""
    # Default values can be huge reprs (dicts, objects with addresses): keep the shape only.
    text = re.sub(r" at 0x[0-9a-f]+", "", text)
    if len(text) > MAX_SIGNATURE_CHARS:
        text = text[:MAX_SIGNATURE_CHARS] + "...)"
    return text


def _doc(obj: Any, max_chars: int) -> str:
    try:
        doc = inspect.getdoc(obj) or ""
    except Exception as exc:  # a broken __doc__ property must not stop the extraction
        _log(f"getdoc failed for {obj!r}: {exc}")
        return ""
    return doc[:max_chars]


def _kind(obj: Any) -> str:
    if inspect.isclass(obj):
        return "class"
    if inspect.isroutine(obj):
        return "function"
    return "attribute"


def _public_names(module: Any, members: Any) -> list[str]:
    if isinstance(members, list):
        return members
    if members == "__all__" and hasattr(module, "__all__"):
        return list(module.__all__)
    return [name for name in vars(module) if not name.startswith("_")]


def _belongs_to(obj: Any, roots: list[str]) -> bool:
    module_name = getattr(obj, "__module__", None) or ""
    return any(module_name == root or module_name.startswith(root + ".") for root in roots)


class Extractor:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.roots: list[str] = spec["roots"]
        self.max_doc_chars: int = spec.get("max_doc_chars", 8000)
        self.records: list[dict[str, Any]] = []
        self._seen: dict[int, dict[str, Any]] = {}

    def _emit(self, symbol: str, kind: str, obj: Any, signature: str | None = None) -> None:
        key = id(obj)
        if kind in {"class", "function"} and key in self._seen:
            # Same object reachable under a second public path: keep one chunk, note the alias.
            self._seen[key]["aliases"].append(symbol)
            return
        record = {
            "symbol": symbol,
            "kind": kind,
            "signature": _signature(obj) if signature is None else signature,
            "doc": _doc(obj, self.max_doc_chars),
            "aliases": [],
            "defined_in": getattr(obj, "__module__", "") or "",
        }
        self.records.append(record)
        if kind in {"class", "function"}:
            self._seen[key] = record

    def _class_members(self, class_symbol: str, cls: type, target: dict[str, Any]) -> None:
        wanted = target.get("methods")
        exclude = [re.compile(p) for p in target.get("exclude_methods", [])]
        if target.get("inherited", False):
            names = [n for n in dir(cls)]
        else:
            names = list(vars(cls))
        for name in names:
            if name.startswith("_") and name != "__init__":
                continue
            if name == "__init__":
                continue  # the constructor signature is the class signature
            if isinstance(wanted, list) and name not in wanted:
                continue
            if any(p.search(name) for p in exclude):
                continue
            try:
                raw = inspect.getattr_static(cls, name)
            except AttributeError:
                continue
            if isinstance(raw, property):
                self._emit(f"{class_symbol}.{name}", "property", raw.fget, signature="")
                continue
            member = getattr(cls, name, None)
            if not inspect.isroutine(member):
                continue
            if not _belongs_to(member, self.roots) and not target.get("foreign_methods", False):
                continue
            self._emit(f"{class_symbol}.{name}", "method", member)

    def run_target(self, target: dict[str, Any]) -> None:
        module_name = target["module"]
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            _log(f"cannot import {module_name}: {type(exc).__name__}: {exc}")
            return
        if target.get("module_doc", True):
            self.records.append(
                {
                    "symbol": module_name,
                    "kind": "module",
                    "signature": "",
                    "doc": _doc(module, self.max_doc_chars),
                    "aliases": [],
                    "defined_in": module_name,
                }
            )
        exclude = [re.compile(p) for p in target.get("exclude", [])]
        for name in _public_names(module, target.get("members", "__all__")):
            if any(p.search(name) for p in exclude):
                continue
            try:
                obj = getattr(module, name)
            except Exception as exc:
                _log(f"{module_name}.{name}: {type(exc).__name__}: {exc}")
                continue
            if inspect.ismodule(obj):
                continue
            if not target.get("any_origin", False) and not _belongs_to(obj, self.roots) and _kind(obj) != "attribute":
                continue
            symbol = f"{module_name}.{name}"
            kind = _kind(obj)
            if kind == "attribute":
                continue  # constants and instances carry no documentation of their own
            self._emit(symbol, kind, obj)
            if kind == "class" and target.get("class_members", True):
                # Methods hang off the first public path of the class (e.g. wandb.Run, not
                # wandb.sdk.wandb_run.Run), the one users write.
                self._class_members(self._seen[id(obj)]["symbol"], obj, target)

    def run_argparse(self, spec: dict[str, Any]) -> None:
        module_name, _, factory_name = spec["factory"].partition(":")
        try:
            parser = getattr(importlib.import_module(module_name), factory_name)()
        except Exception as exc:
            _log(f"cannot build parser {spec['factory']}: {type(exc).__name__}: {exc}")
            return
        for command in spec["commands"]:
            sub = parser
            for word in command.split():
                actions = [a for a in sub._actions if isinstance(a, argparse._SubParsersAction)]
                if not actions or word not in actions[0].choices:
                    _log(f"no CLI command {command!r}")
                    sub = None
                    break
                sub = actions[0].choices[word]
            if sub is None:
                continue
            self.records.append(
                {
                    "symbol": f"{spec['program']} {command}",
                    "kind": "cli",
                    "signature": "",
                    "doc": _ANSI.sub("", sub.format_help())[: self.max_doc_chars],
                    "aliases": [],
                    "defined_in": module_name,
                }
            )


def main() -> int:
    spec = json.load(sys.stdin)
    warnings.simplefilter("ignore")
    extractor = Extractor(spec)
    for target in spec.get("targets", []):
        extractor.run_target(target)
    for cli_spec in spec.get("cli", []):
        extractor.run_argparse(cli_spec)
    # A file, not stdout: some libraries print on import.
    with open(sys.argv[1], "w", encoding="utf-8") as out:
        json.dump(extractor.records, out)
    import resource  # the parent reports where build time goes (imports vs embedding vs writes)

    usage = resource.getrusage(resource.RUSAGE_SELF)
    _log(f"cpu {usage.ru_utime + usage.ru_stime:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
