"""The codemod engine: the first codemod for the action and framework that does not decline wins."""

from __future__ import annotations

import logging
import re
import traceback

import libcst as cst
from libcst.codemod import CodemodContext, SkipFile

from ..actions import Action
from ..codemods import codemods_for
from ..detect import DocumentFacts
from . import Outcome

log = logging.getLogger(__name__)

# The codemods' convention for declining a script that already has what they add ("the script
# already uses MLflow", "the script already prunes (...)"), as opposed to a script they cannot handle.
_ALREADY = re.compile(r"the script already (?:uses|prunes)\b")


def run(tree: cst.Module, action: Action, facts: DocumentFacts, *, filename: str | None = None) -> Outcome:
    """Run the candidate codemods on an already parsed module (libcst trees are immutable);
    ``filename`` is the document's path, when it has one."""
    candidates = codemods_for(action.id, facts.framework)
    if not candidates:
        return Outcome("skip", reason=f"no codemod for {action.id} on {facts.framework or 'this'} scripts")
    reasons: list[str] = []
    for codemod in candidates:
        try:
            return Outcome("success", code=codemod(CodemodContext(filename=filename)).transform_module(tree).code)
        except SkipFile as exc:
            if _ALREADY.match(str(exc)):
                return Outcome("skip", reason=str(exc), already=True)
            reasons.append(str(exc))
        except Exception as exc:  # a codemod bug must not take the editor down: report it
            log.error("codemod %s failed:\n%s", codemod.__name__, traceback.format_exc())
            reasons.append(f"{codemod.__name__} failed: {type(exc).__name__}: {exc}")
    return Outcome("skip", reason="; ".join(reasons))
