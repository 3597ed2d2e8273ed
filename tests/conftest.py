from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.models.fake_openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
# tests/ is not a package: with the repository root on sys.path, shared helpers are importable from
# any test directory as a namespace package, e.g. `from tests.models.fake_openai_server import Answer`.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
EXAMPLE_SKLEARN = ROOT / "examples" / "sklearn_train.py"


@pytest.fixture
def sklearn_source() -> str:
    return EXAMPLE_SKLEARN.read_text(encoding="utf-8")


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A real OpenAI-compatible HTTP server on 127.0.0.1 (see tests/models/fake_openai_server.py)."""
    from tests.models.fake_openai_server import FakeOpenAI

    with FakeOpenAI() as server:
        yield server
