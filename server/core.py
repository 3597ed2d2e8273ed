"""The pure core: ``adapt(source, action_id, options) -> Result``.

The language server, the CLI and the bench only translate its result. It never raises on bad
input: every problem becomes a Result with a one-line message.
"""

from __future__ import annotations

import logging

import libcst
from dataclasses import dataclass, field
from typing import Literal

from . import validate
from .actions import get
from .detect import detect
from .edits import TextEdit, minimal_edits
from .engines import Outcome
from .engines import codemod as codemod_engine
from .options import Options

log = logging.getLogger(__name__)

Status = Literal["ok", "unchanged", "declined", "invalid", "error"]


@dataclass(frozen=True)
class Result:
    status: Status
    message: str  # one line, for the user
    source: str | None = None  # the adapted source, when status == "ok"
    edits: tuple[TextEdit, ...] = ()
    engine: str | None = None
    diagnostics: tuple[str, ...] = ()  # validation problems and engine reasons
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def _engines(strategy: str) -> list[str]:
    return {"codemod": ["codemod"], "llm": ["llm"], "auto": ["codemod", "llm"]}[strategy]


def _run_engine(name: str, tree: libcst.Module, action, facts, options: Options) -> Outcome:
    if name == "codemod":
        return codemod_engine.run(tree, action, facts)
    if options.model is None:
        return Outcome("skip", reason="no model configured (set the `model` option to use the model engine)")
    return Outcome("skip", reason="the model engine is not available in this version")


def adapt(source: str, action_id: str, options: Options = Options()) -> Result:
    try:
        action = get(action_id)
    except KeyError as exc:
        return Result("error", str(exc.args[0]))
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > options.max_file_bytes:
        return Result("declined", f"file too large for {action_id} ({size:,} bytes > {options.max_file_bytes:,})")
    tree = validate.parse(source)
    if isinstance(tree, str):
        return Result("error", f"cannot adapt a file with a syntax error: {tree}")
    facts = detect(source)
    if not action.applies_to(facts):
        what = " or ".join(action.frameworks)
        return Result("declined", f"{action_id} applies to {what} training scripts; this file is not one")

    reasons: list[str] = []
    tokens = {"prompt": 0, "completion": 0}
    for engine in _engines(options.strategy):
        outcome = _run_engine(engine, tree, action, facts, options)
        for key in tokens:
            tokens[key] += outcome.tokens.get(key, 0)
        if outcome.status != "success" or outcome.code is None:
            reasons.append(f"{engine}: {outcome.reason}")
            continue
        if outcome.code == source:
            return Result("unchanged", f"{action.title.removeprefix('MLOps: ')}: nothing to change", engine=engine, tokens=tokens)
        found = validate.problems(source, outcome.code)
        if found:
            log.warning("%s result for %s rejected: %s", engine, action_id, "; ".join(found))
            reasons.append(f"{engine}: invalid result: {found[0]}")
            continue
        return Result(
            "ok",
            f"{action.title.removeprefix('MLOps: ')} ({engine})",
            source=outcome.code,
            edits=tuple(minimal_edits(source, outcome.code)),
            engine=engine,
            tokens=tokens,
        )
    status: Status = "invalid" if any("invalid result" in r for r in reasons) else "declined"
    return Result(status, f"{action_id} not applied: {' | '.join(reasons)}", diagnostics=tuple(reasons), tokens=tokens)
