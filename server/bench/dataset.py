"""Benchmark cases on disk (format fixed in ARCHITECTURE.md) and their validation."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ..actions import registry
from ..detect import FRAMEWORKS

BUNDLED = Path(__file__).resolve().parents[2] / "dataset"


class DatasetError(ValueError):
    """A dataset that cannot be used; the message is one line and names the case."""


@dataclass(frozen=True)
class Case:
    id: str
    dir: Path
    framework: str
    actions: tuple[str, ...]
    args: tuple[str, ...]
    setup: tuple[str, ...]
    timeout: float

    @property
    def script(self) -> Path:
        return self.dir / "train.py"

    def gold(self, action_id: str) -> Path | None:
        path = self.dir / "gold" / f"{action_id}.py"
        return path if path.is_file() else None

    def expand(self, text: str, workdir: Path) -> str:
        return text.replace("{workdir}", str(workdir))


def _strings(value, key: str, case_id: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"case {case_id}: `{key}` must be a list of strings")
    return tuple(value)


def load_case(case_dir: Path) -> Case:
    case_id = case_dir.name
    if not (case_dir / "train.py").is_file():
        raise DatasetError(f"case {case_id}: missing train.py")
    toml_path = case_dir / "case.toml"
    if not toml_path.is_file():
        raise DatasetError(f"case {case_id}: missing case.toml")
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"case {case_id}: bad case.toml: {exc}") from None
    framework = data.get("framework")
    if framework not in FRAMEWORKS:
        raise DatasetError(f"case {case_id}: framework must be one of {', '.join(FRAMEWORKS)}, not {framework!r}")
    actions = _strings(data.get("actions", []), "actions", case_id)
    if not actions:
        raise DatasetError(f"case {case_id}: `actions` is empty")
    known = registry()
    for action_id in actions:
        if action_id not in known:
            raise DatasetError(f"case {case_id}: unknown action id {action_id!r}")
    timeout = data.get("timeout", 60)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise DatasetError(f"case {case_id}: `timeout` must be a positive number of seconds")
    return Case(
        id=case_id,
        dir=case_dir,
        framework=framework,
        actions=actions,
        args=_strings(data.get("args", []), "args", case_id),
        setup=_strings(data.get("setup", []), "setup", case_id),
        timeout=float(timeout),
    )


def load_dataset(root: Path) -> list[Case]:
    if not root.is_dir():
        raise DatasetError(f"dataset {root}: not a directory")
    cases = [load_case(d) for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith((".", "_"))]
    if not cases:
        raise DatasetError(f"dataset {root}: no cases")
    return cases


def dataset_hash(cases: list[Case]) -> str:
    """Content hash of every file of every case: results name the exact dataset they scored."""
    digest = hashlib.sha256()
    for case in cases:
        for path in sorted(p for p in case.dir.rglob("*") if p.is_file()):
            digest.update(str(path.relative_to(case.dir.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
