"""The pure core: ``adapt(source, action_id, options) -> Result``.

The language server, the CLI and the bench only translate its result. It never raises on bad
input: every problem becomes a Result with a one-line message.
"""

from __future__ import annotations

import logging
import threading

import libcst
from dataclasses import dataclass, field
from typing import Callable, Literal

from . import validate
from .actions import get
from .detect import detect
from .edits import UTF16, TextEdit, minimal_edits
from .engines import Outcome
from .engines import codemod as codemod_engine
from .options import Options

log = logging.getLogger(__name__)

BOM = "\ufeff"

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


# Progress reports of a slow engine, one short line each ("retrieving documentation", "generated 120 tokens").
Progress = Callable[[str], None]


def _run_engine(name: str, tree: libcst.Module, action, facts, options: Options, *,
                cancel: threading.Event | None = None, progress: Progress | None = None,
                filename: str | None = None) -> Outcome:
    if name == "codemod":
        return codemod_engine.run(tree, action, facts, filename=filename)
    if options.model is None:
        return Outcome("skip", reason="no model configured (set the `model` option to use the model engine)")
    # Imported here: the model engine's modules are only needed once a model action runs.
    from .engines import llm as llm_engine

    return llm_engine.run(tree, action, facts, options, cancel=cancel, progress=progress)


def _can_run_model(engines: list[str], options: Options) -> bool:
    """Whether one of ``engines`` would really call a model (rather than skip for want of one)."""
    return "llm" in engines and options.model is not None


def adapt(source: str, action_id: str, options: Options = Options(), *,
          cancel: threading.Event | None = None, progress: Progress | None = None,
          encoding: str = UTF16, filename: str | None = None) -> Result:
    """Adapt ``source`` with ``action_id``. ``cancel`` stops a model engine early (the result is then
    "declined" with the reason); ``progress`` receives one-line reports from slow engines; the edits
    count characters in ``encoding``, the position encoding negotiated with an editor; ``filename``
    (the document's path, when it has one) names things the codemods create, e.g. W&B projects.

    An engine that finds the script already uses the action's library ends with "unchanged" (a
    second application is not a failure), unless a model engine comes after it in the strategy:
    the codemods' check is coarse, and the model may still find something to add."""
    try:
        action = get(action_id)
    except KeyError as exc:
        return Result("error", str(exc.args[0]))
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > options.max_file_bytes:
        return Result("declined", f"file too large for {action_id} ({size:,} bytes > {options.max_file_bytes:,})")
    # libcst (and ast) do not keep a leading byte order mark: the engines see the text after it, and
    # it is put back on their result, so that the edit never deletes it.
    bom = BOM if source.startswith(BOM) else ""
    body = source.removeprefix(bom)
    tree = validate.parse(body)
    if isinstance(tree, str):
        return Result("error", f"cannot adapt a file with a syntax error: {tree}")
    facts = detect(body)
    if not action.applies_to(facts):
        what = " or ".join(action.frameworks)
        return Result("declined", f"{action_id} applies to {what} training scripts; this file is not one")

    name = action.title.removeprefix("MLOps: ")
    reasons: list[str] = []
    tokens = {"prompt": 0, "completion": 0}
    engines = _engines(options.strategy)
    for number, engine in enumerate(engines):
        outcome = _run_engine(engine, tree, action, facts, options, cancel=cancel, progress=progress,
                              filename=filename)
        for key in tokens:
            tokens[key] += outcome.tokens.get(key, 0)
        if outcome.already and not _can_run_model(engines[number + 1:], options):
            # the script already has what the action adds, and no later engine could do more
            return Result("unchanged", f"{name}: nothing to change: {outcome.reason}", engine=engine, tokens=tokens)
        if outcome.status != "success" or outcome.code is None:
            reasons.append(f"{engine}: {outcome.reason}")
            continue
        adapted = bom + outcome.code.removeprefix(BOM)
        if adapted == source:
            return Result("unchanged", f"{name}: nothing to change", engine=engine, tokens=tokens)
        found = validate.problems(body, adapted.removeprefix(bom))  # ast cannot parse a BOM
        if found:
            log.warning("%s result for %s rejected: %s", engine, action_id, "; ".join(found))
            reasons.append(f"{engine}: invalid result: {found[0]}")
            continue
        return Result(
            "ok",
            f"{name} ({engine})",
            source=adapted,
            edits=tuple(minimal_edits(source, adapted, encoding)),
            engine=engine,
            tokens=tokens,
        )
    status: Status = "invalid" if any("invalid result" in r for r in reasons) else "declined"
    return Result(status, f"{action_id} not applied: {' | '.join(reasons)}", diagnostics=tuple(reasons), tokens=tokens)
