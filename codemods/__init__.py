"""Deterministic libcst codemods, one class per (action, framework shape), one file each.

A codemod is a ``libcst.codemod.Codemod`` subclass declaring the action it serves, the frameworks
it understands, and (Fixit-style) its own examples, from which the tests are generated::

    class SklearnMlflowTracking(ActionCodemod):
        ACTION = "tracking.mlflow"
        FRAMEWORKS = ("sklearn",)
        EXAMPLES = [Example(before=..., after=...)]
        DECLINES = [Decline(source=..., reason=...)]

Dropping a file with such a class under ``codemods/<library>/`` adds it: discovery walks the
package. A codemod declines a shape it does not recognise by raising ``SkipFile(reason)``;
``libcst.codemod.transform_module`` turns that into a skip and any other exception into a failure,
so running a codemod never raises.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from functools import cache
from typing import ClassVar

from libcst.codemod import Codemod, VisitorBasedCodemodCommand


@dataclass(frozen=True)
class Example:
    """A script the codemod adapts, and exactly what it must produce."""

    before: str
    after: str


@dataclass(frozen=True)
class Decline:
    """A script the codemod must decline, and a fragment of the reason it gives."""

    source: str
    reason: str


class ActionCodemod(VisitorBasedCodemodCommand):
    ACTION: ClassVar[str]
    FRAMEWORKS: ClassVar[tuple[str, ...]]
    EXAMPLES: ClassVar[list[Example]] = []
    DECLINES: ClassVar[list[Decline]] = []


@cache
def all_codemods() -> tuple[type[ActionCodemod], ...]:
    found: list[type[ActionCodemod]] = []
    for info in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, Codemod)
                and obj.__module__ == module.__name__
                and isinstance(getattr(obj, "ACTION", None), str)
            ):
                found.append(obj)
    return tuple(sorted(found, key=lambda c: (c.ACTION, c.__module__, c.__name__)))


def codemods_for(action_id: str, framework: str | None) -> list[type[ActionCodemod]]:
    return [c for c in all_codemods() if c.ACTION == action_id and framework in c.FRAMEWORKS]
