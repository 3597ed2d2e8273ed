"""Cheap per-document detection: which framework a script trains with, and whether it trains.

Runs on every code-action listing, so it is regular expressions over the text, not a parse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FRAMEWORKS = ("pytorch", "lightning", "keras", "sklearn", "gitpython")

_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import|import[ \t]+([\w.]+(?:[ \t]*,[ \t]*[\w.]+)*))", re.M)

# Top-level module -> framework. Order matters in `framework` below (lightning also imports torch).
_FRAMEWORK_OF_MODULE = {
    "lightning": "lightning",
    "pytorch_lightning": "lightning",
    "keras": "keras",
    "tensorflow": "keras",
    "sklearn": "sklearn",
    "torch": "pytorch",
    "git": "gitpython",
}

_TRAINING = {
    "pytorch": re.compile(r"\.backward\(|\.step\(\s*\)"),
    "lightning": re.compile(r"\bTrainer\s*\(|\.fit\("),
    "keras": re.compile(r"\.fit\(|\.train_on_batch\("),
    "sklearn": re.compile(r"\.fit\(|\.partial_fit\(|\.fit_transform\("),
    "gitpython": re.compile(r"\bRepo\b"),
}


@dataclass(frozen=True)
class DocumentFacts:
    modules: frozenset[str]  # top-level modules imported
    framework: str | None  # the training framework (or gitpython), most specific first
    trains: bool  # a training call (or, for gitpython, repository use) is present


def imported_modules(source: str) -> frozenset[str]:
    found: set[str] = set()
    for m in _IMPORT.finditer(source):
        if m.group(1):
            found.add(m.group(1).split(".")[0])
        else:
            for name in m.group(2).split(","):
                found.add(name.strip().split(".")[0])
    return frozenset(found)


def detect(source: str) -> DocumentFacts:
    modules = imported_modules(source)
    framework = None
    for module, fw in _FRAMEWORK_OF_MODULE.items():
        if module in modules:
            framework = fw
            break
    trains = bool(framework and _TRAINING[framework].search(source))
    return DocumentFacts(modules=modules, framework=framework, trains=trains)
