"""The documentation retrieval runs in a worker subprocess; its failures degrade to no docs."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from mlops_lsp.actions import get
from mlops_lsp.engines import llm
from mlops_lsp.options import Options


class _NoModel:
    small = True
    name = "none"

    def chat(self, *args, **kwargs):  # the docprompt/none paths never call the model
        raise AssertionError("retrieval must not call the model for this strategy")

    def count_tokens(self, text: str) -> int:
        return len(text)


def test_a_failing_retrieval_degrades_to_a_prompt_without_docs(caplog: pytest.LogCaptureFixture) -> None:
    session = llm._Session(_NoModel(), Options(retrieval="docprompt"), None, lambda _m: None)
    # An unknown strategy is refused by the worker before touching the index.
    session.options = session.options.replace(retrieval="bogus")  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING):
        docs = llm.retrieve_docs(session, get("tracking.mlflow"), "print(1)\n", "sklearn")
    assert docs == ""
    assert any("prompting without documentation" in r.message and "unknown strategy" in r.getMessage()
               for r in caplog.records)
    # The index libraries stay out of this process (checked where no other test imported them).
    probe = ("import sys, logging\n"
             "from mlops_lsp.actions import get\n"
             "from mlops_lsp.engines import llm\n"
             "from mlops_lsp.options import Options\n"
             "class M:\n small = True\n name = 'none'\n def count_tokens(self, t): return len(t)\n"
             "s = llm._Session(M(), Options(retrieval='docprompt'), None, lambda _m: None)\n"
             "s.options = s.options.replace(retrieval='bogus')\n"
             "llm.retrieve_docs(s, get('tracking.mlflow'), 'print(1)\\n', 'sklearn')\n"
             "print(sorted(m for m in ('lancedb', 'numpy', 'pyarrow') if m in sys.modules))\n")
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert shown.stdout.strip().splitlines()[-1] == "[]"


def test_retrieval_none_does_not_start_the_worker() -> None:
    session = llm._Session(_NoModel(), Options(retrieval="none"), None, lambda _m: None)
    assert llm.retrieve_docs(session, get("tracking.mlflow"), "print(1)\n", "sklearn") == ""
