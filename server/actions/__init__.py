"""The action registry: each action is data, declared in its own module of this package.

A module here defines ``ACTION = Action(...)``; adding a module adds the action. Codemods find their
action by id (see ``mlops_lsp.codemods``), checkers are named by dotted path and imported only by
the benchmark's subprocesses.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from typing import Literal

from ..detect import DocumentFacts


@dataclass(frozen=True)
class Example:
    """A script an action adapts, and what it becomes (codemods' tests; the model's one-shot example)."""

    before: str
    after: str
    # For a translation: the replacement of each hunk of ``before`` (see mlops_lsp.hunks), in order;
    # ``after`` is ``before`` with them in place (a test checks it). Shown to a small model as a guide.
    hunks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Action:
    id: str
    title: str
    kind: Literal["inline", "translate"]
    library: str  # the target library's top-level import name
    frameworks: tuple[str, ...]  # frameworks (see detect.FRAMEWORKS) the action applies to
    checker: str  # "module:function" run by the bench on a finished sandbox
    task: str  # what the action does, in the words a prompt to a model uses
    # The model's one-shot example where the codemods' own examples are too long to show (helpers).
    example: Example | None = None
    # (regex, problem): what adapted code must contain, checked on the model's answers before the
    # bench runs anything (the problem text goes back to the model).
    requires: tuple[tuple[str, str], ...] = ()
    # (callee regex, problem): a call that must run before or during training, not after it
    # (see mlops_lsp.training_order).
    during_training: tuple[str, str] | None = None
    # (logger callee regex, problem): for iterative trainers, metrics must be logged per epoch or
    # step, not once after training (see mlops_lsp.training_order.logs_only_once).
    per_epoch: tuple[str, str] | None = None
    # For translations: (regex, what those statements do) of the statements the translation rewrites,
    # matched on code without comments; a small model rewrites them a group at a time (mlops_lsp.hunks).
    rewrites: tuple[str, str] | None = None
    # For translations: (regex, problem) of code that must be gone, comments and docstrings aside.
    removes: tuple[str, str] | None = None
    # For inline actions: the adaptation changes only the training statements and the results computed
    # right after them (a run around them, metrics logged, the model registered, pruning in the epoch
    # loop), so a small model rewrites only those (mlops_lsp.hunks.training).
    changes_training: bool = False

    def applies_to(self, facts: DocumentFacts) -> bool:
        """Cheap detector used when listing code actions."""
        return facts.trains and facts.framework in self.frameworks


@cache
def registry() -> dict[str, Action]:
    actions: dict[str, Action] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        action = getattr(module, "ACTION", None)
        if isinstance(action, Action):
            if action.id in actions:
                raise RuntimeError(f"duplicate action id {action.id!r} in {module.__name__}")
            actions[action.id] = action
    return dict(sorted(actions.items()))


def get(action_id: str) -> Action:
    try:
        return registry()[action_id]
    except KeyError:
        raise KeyError(f"unknown action {action_id!r}; known: {', '.join(registry())}") from None
