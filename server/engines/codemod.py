"""The codemod engine: the first codemod for the action and framework that does not decline wins."""

from __future__ import annotations

import logging

from libcst.codemod import CodemodContext, TransformFailure, TransformSkip, TransformSuccess, transform_module

from ..actions import Action
from ..codemods import codemods_for
from ..detect import DocumentFacts
from . import Outcome

log = logging.getLogger(__name__)


def run(source: str, action: Action, facts: DocumentFacts) -> Outcome:
    candidates = codemods_for(action.id, facts.framework)
    if not candidates:
        return Outcome("skip", reason=f"no codemod for {action.id} on {facts.framework or 'this'} scripts")
    reasons: list[str] = []
    for codemod in candidates:
        result = transform_module(codemod(CodemodContext()), source)
        if isinstance(result, TransformSuccess):
            return Outcome("success", code=result.code)
        if isinstance(result, TransformSkip):
            reasons.append(result.skip_description)
        elif isinstance(result, TransformFailure):
            log.error("codemod %s failed:\n%s", codemod.__name__, result.traceback_str)
            reasons.append(f"{codemod.__name__} failed: {result.error}")
        else:  # TransformExit: interrupted
            reasons.append(f"{codemod.__name__} was interrupted")
    return Outcome("skip", reason="; ".join(reasons))
