"""The documentation retrieval runs in a worker subprocess; its failures degrade to no docs."""

from __future__ import annotations

import logging
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
    # The index libraries stay out of this process.
    assert "lancedb" not in sys.modules


def test_retrieval_none_does_not_start_the_worker() -> None:
    session = llm._Session(_NoModel(), Options(retrieval="none"), None, lambda _m: None)
    assert llm.retrieve_docs(session, get("tracking.mlflow"), "print(1)\n", "sklearn") == ""
