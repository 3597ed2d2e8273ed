"""Typed, fully defaulted options.

Sources, later ones win: defaults < ``[tool.mlops-lsp]`` in the workspace's pyproject.toml <
``initializationOptions`` < ``workspace/configuration`` (section "mlops-lsp"). An invalid value is
reported and the default kept, so a typo never disables the server.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

Strategy = Literal["codemod", "llm", "auto"]
Retrieval = Literal["none", "docprompt", "docs-search", "llm-search", "llm-docs-search"]
# How the model returns its change: "auto" = region for small local models, SEARCH/REPLACE for strong ones.
EditFormat = Literal["auto", "region", "search-replace", "whole", "hunks"]


@dataclass(frozen=True)
class Options:
    strategy: Strategy = "auto"
    model: str | None = None  # SPEC, e.g. "openai:gpt-4o-mini" or "llama-cpp:/path/model.gguf"
    retrieval: Retrieval = "docprompt"
    temperature: float = 0.2
    seed: int = 0
    repair_rounds: int = 2
    timeout: float = 300.0  # seconds for one model call (a local model on 2 cores needs minutes on long regions)
    edit_format: EditFormat = "auto"
    max_file_bytes: int = 2_000_000  # larger documents are declined, not parsed

    def replace(self, **changes: Any) -> Options:
        return dataclasses.replace(self, **changes)


# camelCase aliases, as editors send them
_ALIASES = {"repairRounds": "repair_rounds", "maxFileBytes": "max_file_bytes", "editFormat": "edit_format"}


def _coerce(name: str, hint: Any, value: Any) -> Any:
    origin = get_origin(hint)
    if origin is Literal:
        if value in get_args(hint):
            return value
        raise ValueError(f"{name} must be one of {', '.join(map(str, get_args(hint)))}, not {value!r}")
    allowed = [a for a in get_args(hint) if a is not type(None)] if origin is not None else [hint]
    if value is None and type(None) in get_args(hint):
        return None
    if value == "" and type(None) in get_args(hint):
        return None
    for kind in allowed:
        if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind is str and isinstance(value, str):
            return value
    raise ValueError(f"{name} must be {' or '.join(k.__name__ for k in allowed)}, not {value!r}")


def merge(base: Options, raw: Any, source: str) -> tuple[Options, list[str]]:
    """Apply a mapping of raw settings onto ``base``; returns the options and one-line problems."""
    if raw is None:
        return base, []
    if not isinstance(raw, dict):
        return base, [f"{source}: settings must be an object, not {type(raw).__name__}; using defaults"]
    hints = get_type_hints(Options)
    known = {f.name for f in fields(Options)}
    changes: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in raw.items():
        name = _ALIASES.get(key, key.replace("-", "_"))
        if name not in known:
            problems.append(f"{source}: unknown option {key!r} ignored")
            continue
        try:
            changes[name] = _coerce(key, hints[name], value)
        except ValueError as exc:
            problems.append(f"{source}: {exc}; using {getattr(base, name)!r}")
    return base.replace(**changes), problems


def from_pyproject(root: Path, base: Options) -> tuple[Options, list[str]]:
    """Merge ``[tool.mlops-lsp]`` of ``root/pyproject.toml`` (if any) onto ``base``."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return base, []
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("mlops-lsp")
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        return base, [f"{path}: cannot read it ({exc}); using defaults"]
    return merge(base, raw, f"{path} [tool.mlops-lsp]")
