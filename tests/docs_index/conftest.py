"""A real documentation index built once per test session from a small real library subset.

The subset: DVC (its Python API, Repo methods and CLI help: the translation target) and a slice of
GitPython (Repo/IndexFile/Remote/Git: the translation source), extracted in a subprocess from the
installed packages and embedded with the real all-MiniLM-L6-v2 model into real LanceDB tables.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from docs_index_subset import subset_specs

from mlops_lsp.docs_index.store import DocsIndex


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docs-index")


@pytest.fixture(scope="session")
def small_index(index_dir: Path) -> DocsIndex:
    index = DocsIndex(cache_dir=index_dir, libraries=subset_specs())
    reports = index.build()
    assert {r.library for r in reports} == {"dvc", "gitpython"}
    return index
