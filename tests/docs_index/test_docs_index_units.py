"""Embedding equivalence, token budgets, chunking: the pieces under the store."""

from __future__ import annotations

import numpy as np
import pytest

from mlops_lsp.docs_index.chunking import (
    chunks_from_markdown,
    chunks_from_records,
    cli_backed_docs,
    identifier_words,
)
from mlops_lsp.docs_index.chunking import clean_rst, description, summary_text
from mlops_lsp.docs_index.embedding import DIMENSION, NumpyMiniLM, SentenceTransformersMiniLM
from mlops_lsp.docs_index.lexical import BM25Index, expand, stem, tokenize
from mlops_lsp.docs_index.store import SearchHit, api_depth_penalty, embedding_text, rrf_fuse
from mlops_lsp.docs_index.guides import GUIDES
from mlops_lsp.docs_index.libraries import ACTION_TARGETS
from mlops_lsp.docs_index.tokens import count_tokens, truncate_to_tokens

TEXTS = [
    "how do I log a metric at every epoch with mlflow",
    "git.IndexFile.add(items): Add files from the working tree to the index.",
    "Upload tracked files or directories to remote storage. " * 40,  # longer than 256 tokens
]


def test_numpy_embedder_matches_sentence_transformers() -> None:
    reference = SentenceTransformersMiniLM().embed(TEXTS)
    ours = NumpyMiniLM().embed(TEXTS)
    assert ours.shape == reference.shape == (len(TEXTS), DIMENSION)
    cosines = (ours * reference).sum(axis=1)
    assert np.all(cosines > 0.9999), cosines
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_embedding_separates_meanings() -> None:
    vectors = NumpyMiniLM().embed(["log a training metric", "record the loss value of an epoch",
                                   "remove a git remote"])
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.1


def test_truncation_is_by_tokens_at_token_boundaries() -> None:
    text = "mlflow.log_metric(key, value, step=None) logs a metric under the current run. " * 20
    total = count_tokens(text)
    assert total > 100
    cut = truncate_to_tokens(text, 50)
    assert text.startswith(cut) and count_tokens(cut) == 50
    assert truncate_to_tokens(text, total + 5) == text
    assert truncate_to_tokens(text, 0) == ""
    # A cut never splits a word into a non-token prefix: the next char starts a new token.
    assert count_tokens(truncate_to_tokens("supercalifragilistic", 2)) == 2


def test_identifier_words() -> None:
    assert identifier_words("mlflow.MlflowClient.create_model_version") == "mlflow Mlflow Client create model version"
    assert identifier_words("HTTPServer") == "HTTP Server"


def test_long_docstrings_split_into_titled_parts() -> None:
    doc = "\n\n".join(f"Paragraph {i}. " + "word " * 80 for i in range(12))
    record = {"symbol": "lib.func", "kind": "function", "signature": "(a, b=1)", "doc": doc, "aliases": ["lib.f"],
              "defined_in": "lib.core"}
    chunks = chunks_from_records("lib", [record])
    assert len(chunks) > 1 and [c.part for c in chunks] == list(range(len(chunks)))
    assert chunks[0].text.startswith("lib.func(a, b=1)\nAlso available as: lib.f")
    assert all(len(c.text) < 1700 for c in chunks)
    assert chunks[1].text.startswith("lib.func (continued, part 2)")
    assert chunks[0].embed_text.startswith("func (function): Paragraph 0.")  # summary first
    assert "Parameters: a, b." in chunks[0].embed_text and chunks[0].embed_text.endswith("Module lib.")
    assert chunks[0].source == "api:lib.core"


def test_markdown_sections_ignore_headings_in_code_fences() -> None:
    md = "intro\n# Install\npip install x\n```\n# not a heading\n```\n## Usage\nrun it\n"
    chunks = chunks_from_markdown("lib", "lib README", "file:README", md)
    assert [c.symbol for c in chunks] == ["lib README: lib README", "lib README: Install", "lib README: Usage"]
    assert "# not a heading" in chunks[1].text


def test_cli_help_documents_undocumented_repo_methods() -> None:
    records = [
        {"symbol": "dvc.repo.Repo.add", "kind": "method", "signature": "(targets)", "doc": "", "aliases": []},
        {"symbol": "dvc.repo.Repo.gc", "kind": "method", "signature": "()", "doc": "Own doc.", "aliases": []},
        {"symbol": "dvc add", "kind": "cli", "signature": "", "doc": "usage: dvc add\n\nTrack data files.",
         "aliases": []},
        {"symbol": "dvc gc", "kind": "cli", "signature": "", "doc": "usage: dvc gc\n\nGarbage.", "aliases": []},
    ]
    enriched = {r["symbol"]: r["doc"] for r in cli_backed_docs(records, "dvc", "dvc.repo.Repo")}
    assert enriched["dvc.repo.Repo.add"].startswith("Python API of the `dvc add` command. Track data files.")
    assert enriched["dvc.repo.Repo.gc"] == "Own doc."


@pytest.mark.parametrize("action", sorted(ACTION_TARGETS))
def test_every_action_has_a_guide_with_pitfalls(action: str) -> None:
    guide = GUIDES[action]
    assert guide.startswith("# Task guide:") and "Pitfalls:" in guide and "How" in guide


def test_parameter_names_ignore_commas_inside_annotations() -> None:
    record = {"symbol": "mlflow.log_params", "kind": "function", "doc": "Log a batch of params.",
              "signature": "(params: dict[str, typing.Any], synchronous: bool | None = None, *, run_id='a,b')"}
    (chunk,) = chunks_from_records("mlflow", [record])
    assert "Parameters: params, synchronous, run_id." in chunk.embed_text
    assert "typing" not in chunk.embed_text


def test_summary_is_prose_first_without_markup() -> None:
    doc = "Create a new :class:`~optuna.study.Study`.\n\nExample:\n\n    study = optuna.create_study()"
    assert clean_rst("see ``choices`` and :func:`optuna.load_study`") == "see choices and load_study"
    assert description(doc) == "Create a new Study."
    text = summary_text("optuna.Trial.suggest_int", "method", "name, low, high", "Suggest an integer.", "optuna")
    assert text == "Trial suggest int (method): Suggest an integer. Parameters: name, low, high. Module optuna."


def test_tokenizer_splits_identifiers_and_stems() -> None:
    assert stem("minimizes") == stem("minimize") == "minimiz"
    assert stem("logging") == stem("logged") == stem("logs") == "log"
    assert stem("loss") == "loss" and stem("status") == "status"
    assert tokenize("MlflowClient.log_metric") == ["mlflowclient", "mlflow", "client", "log_metric", "log", "metric"]
    assert "the" not in tokenize("the run")
    assert set(expand(["record"])) >= {"log", "track"} and "record" not in expand(["record"])


def test_bm25_prefers_the_document_with_the_rare_query_term() -> None:
    docs = ["log a metric value", "log a parameter value", "log an artifact file", "set the tracking uri"]
    index = BM25Index([docs], expansion_weight=0.0)
    scores = index.scores("log the metric")
    assert int(scores.argmax()) == 0
    assert scores[3] == 0.0  # no shared term
    # "log" is in three of four documents, "metric" in one: IDF makes "metric" count more.
    assert scores[0] > scores[1] > 0
    expanded = BM25Index([docs]).scores("record the metric")  # "record" expands to "log"
    assert expanded[1] > 0 and expanded[0] > expanded[1]


def test_code_queries_are_embedded_as_identifier_words() -> None:
    assert embedding_text("lr = trial.suggest_float('lr', 1e-5, log=True)") == "lr trial suggest float e log True"
    assert embedding_text("log the validation loss") == "log the validation loss"


def _hit(symbol: str, kind: str = "function", part: int = 0) -> SearchHit:
    return SearchHit(library="lib", symbol=symbol, kind=kind, source="s", text="t", score=0.0, part=part)


def test_fusion_counts_a_symbol_once_per_ranking() -> None:
    # Three parts of one long docstring must not outvote a symbol ranked first by both rankers.
    long_doc = [_hit("lib.long", part=p) for p in range(3)]
    fused = rrf_fuse([[_hit("lib.short"), *long_doc], [_hit("lib.short"), *long_doc]], k=2)
    assert [h.symbol for h in fused] == ["lib.short", "lib.long"]
    assert fused[1].part == 0


def test_depth_prior_favours_public_entry_points() -> None:
    assert api_depth_penalty(_hit("nncf.prune")) == 0.0
    assert api_depth_penalty(_hit("nncf.torch.pruning.Scheduler")) > api_depth_penalty(_hit("optuna.Trial.report")) > 0
    assert api_depth_penalty(_hit("guide:pruning.nncf", kind="guide")) == 0.0
    assert api_depth_penalty(_hit("dvc remote add", kind="cli")) == 0.0
    ranking = [_hit("lib.deep.inner.module.f"), _hit("lib.f")]
    assert [h.symbol for h in rrf_fuse([ranking], k=2, prior=api_depth_penalty)] == ["lib.f", "lib.deep.inner.module.f"]
