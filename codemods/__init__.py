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

import libcst as cst
import libcst.matchers as m
from libcst.codemod import Codemod, CodemodCommand
from libcst.codemod.visitors import AddImportsVisitor

from ..actions import Example  # noqa: F401  (re-exported: codemods declare their examples with it)


@dataclass(frozen=True)
class Decline:
    """A script the codemod must decline, and a fragment of the reason it gives."""

    source: str
    reason: str


class ActionCodemod(CodemodCommand):
    """Base of the action codemods: implement ``transform_module_impl``; schedule imports with
    ``AddImportsVisitor.add_needed_import(self.context, ...)``.

    Codemods here declare no libcst metadata, so the tree is not wrapped (wrapping deep-copies
    it), and the scheduled imports are added by ``AddImportsVisitor`` run on the module's leading
    statements only: the cost stays proportional to what changes, not to the file's length.
    """

    ACTION: ClassVar[str]
    FRAMEWORKS: ClassVar[tuple[str, ...]]
    EXAMPLES: ClassVar[list[Example]] = []
    DECLINES: ClassVar[list[Decline]] = []

    def transform_module(self, tree: cst.Module) -> cst.Module:
        tree = self.transform_module_impl(tree)
        if not self.context.scratch.get(AddImportsVisitor.CONTEXT_KEY):
            return tree
        header_length = _header_length(tree)
        header = tree.with_changes(body=tree.body[:header_length])
        header = AddImportsVisitor(self.context).transform_module(header)
        return tree.with_changes(body=[*header.body, *tree.body[header_length:]])


def _header_length(tree: cst.Module) -> int:
    """Number of leading statements up to and including the last top-level import."""
    last = 0
    for index, statement in enumerate(tree.body):
        if isinstance(statement, cst.SimpleStatementLine) and any(
            isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body
        ):
            last = index + 1
    if last == 0 and tree.body and m.matches(tree.body[0], m.SimpleStatementLine(body=[m.Expr(m.SimpleString())])):
        last = 1  # keep the module docstring first
    return last


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
