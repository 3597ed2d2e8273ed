"""The small real library subset the docs-index tests build (shared by conftest and a subprocess)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mlops_lsp.docs_index.libraries import LIBRARIES, LibrarySpec

SET_PATH = Path(__file__).with_name("retrieval_set.json")

GITPYTHON_SLICE = dataclasses.replace(
    LIBRARIES["gitpython"],
    targets=(
        {"module": "git", "members": ["Repo", "IndexFile", "Remote", "Git"],
         "methods": ["init", "index", "remote", "create_remote", "add", "commit", "push", "pull", "execute"]},
    ),
)


def subset_specs() -> dict[str, LibrarySpec]:
    return {"dvc": LIBRARIES["dvc"], "gitpython": GITPYTHON_SLICE}
