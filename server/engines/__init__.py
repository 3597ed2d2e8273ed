"""Engines turn a source into an adapted source for one action: the codemods and the model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Outcome:
    """What an engine produced. Engines never raise: a failure is an outcome too."""

    status: Literal["success", "skip", "failure"]
    code: str | None = None  # the adapted source, on success
    reason: str = ""  # why it skipped or failed, one line
    # the engine skipped because the script already does what the action adds (already uses its
    # library): a second application, reported as "unchanged" rather than as a failure
    already: bool = False
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0})
