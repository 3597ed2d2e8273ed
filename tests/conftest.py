from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_SKLEARN = ROOT / "examples" / "sklearn_train.py"


@pytest.fixture
def sklearn_source() -> str:
    return EXAMPLE_SKLEARN.read_text(encoding="utf-8")
