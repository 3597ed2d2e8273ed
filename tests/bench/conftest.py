"""Fixtures of the bench tests (helpers live in benchdata.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchdata import write_case


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    root = tmp_path / "dataset"
    write_case(root)
    return root
