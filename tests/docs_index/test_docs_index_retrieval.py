"""The retrieval strategies, the token budget, the CLI, and the labelled-set quality on the subset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_lsp.docs_index import cli, store
from mlops_lsp.docs_index.evaluation import evaluate_modes, load_set
from mlops_lsp.docs_index.libraries import ACTION_TARGETS, LIBRARIES
from mlops_lsp.docs_index.retrieval import _call_names, retrieve
from mlops_lsp.docs_index.store import DocsIndex
from mlops_lsp.docs_index.tokens import count_tokens

from docs_index_subset import SET_PATH

GIT_LFS_CODE = """\
import git
repo = git.Repo.init(workdir)
repo.git.lfs("track", "*.csv")
repo.index.add([".gitattributes", "data.csv"])
repo.index.commit("track data")
origin = repo.create_remote("origin", remote_url)
origin.push()
"""
ACTION = "translate.gitpython-dvc"


def _names(context) -> set[str]:  # type: ignore[no-untyped-def]
    return {name for hit in context.chunks for name in hit.names()}


def test_call_names_resolve_imports() -> None:
    code = "from git import Repo\nr = Repo.init('.')\nr.index.add(['a'])\nprint(1)\n"
    assert _call_names(code) == ["git.Repo.init", "r.index.add", "print"]
    assert "repo.index.add" in _call_names("repo.index.add([x]\n")  # unparsable: regex fallback


def test_docprompt_puts_the_guide_first(small_index: DocsIndex) -> None:
    context = retrieve(small_index, "docprompt", ACTION, GIT_LFS_CODE, k=4, budget_tokens=3000)
    assert context.text.startswith("# Task guide: translate GitPython")
    assert all(hit.library == "dvc" for hit in context.chunks)
    assert {"dvc init", "dvc.repo.Repo.init"} & _names(context)
    assert context.model_calls == 0


def test_docs_search_goes_through_the_source_docs(small_index: DocsIndex) -> None:
    context = retrieve(small_index, "docs-search", ACTION, GIT_LFS_CODE, k=5, budget_tokens=4000)
    assert all(hit.library == "dvc" for hit in context.chunks)
    # Docs-X were GitPython chunks (the queries are their summaries: name as words first, module last) ...
    assert any(q.startswith("Index File add (method)") and "Module git." in q for q in context.queries)
    # ... and they lead to the DVC functions that replace them.
    assert {"dvc add", "dvc.repo.Repo.add", "dvc push", "dvc.repo.Repo.push"} & _names(context)


def test_llm_search_uses_the_models_docs(small_index: DocsIndex) -> None:
    prompts: list[str] = []

    def complete(prompt: str) -> str:  # stands in for the model backend (not under test here)
        prompts.append(prompt)
        return "dvc.repo.Repo.add(targets): track files with DVC"

    context = retrieve(small_index, "llm-search", ACTION, GIT_LFS_CODE, budget_tokens=800, complete=complete)
    assert len(prompts) == 1 and context.model_calls == 1
    assert "git.IndexFile.add" in prompts[0]  # Docs-X went into the prompt
    assert "dvc" in prompts[0] and "3." in prompts[0]  # target library and its installed version
    assert context.chunks[0].source == "llm:generated"
    assert "track files with DVC" in context.text


def test_llm_docs_search_searches_each_described_need(small_index: DocsIndex) -> None:
    def complete(prompt: str) -> str:
        return "1. put a data file under DVC control\n2. upload tracked data to remote storage\n"

    context = retrieve(small_index, "llm-docs-search", ACTION, GIT_LFS_CODE, k=4, complete=complete)
    assert context.queries == ["put a data file under DVC control", "upload tracked data to remote storage"]
    assert {"dvc push", "dvc.repo.Repo.push"} & _names(context)


@pytest.mark.parametrize("budget", [60, 300])
def test_context_respects_the_token_budget(small_index: DocsIndex, budget: int) -> None:
    for strategy in ("docprompt", "docs-search"):
        context = retrieve(small_index, strategy, ACTION, GIT_LFS_CODE, k=5, budget_tokens=budget)
        assert context.tokens <= budget
        assert count_tokens(context.text) <= budget + 2 * len(context.chunks)  # "\n\n" joins
        assert context.text


def test_strategy_errors(small_index: DocsIndex) -> None:
    with pytest.raises(ValueError, match="unknown retrieval strategy"):
        retrieve(small_index, "bm25", ACTION, GIT_LFS_CODE)
    with pytest.raises(ValueError, match="needs a model"):
        retrieve(small_index, "llm-search", ACTION, GIT_LFS_CODE)
    with pytest.raises(ValueError, match="unknown action"):
        retrieve(small_index, "docprompt", "tracking.comet-ml", GIT_LFS_CODE)
    assert retrieve(small_index, "none", ACTION, GIT_LFS_CODE).text == ""


def test_labelled_set_shape() -> None:
    labelled = load_set(SET_PATH)
    queries = labelled["queries"]
    assert len(queries) >= 40
    assert {q["library"] for q in queries} == set(LIBRARIES)
    assert {q["kind"] for q in queries} == {"task", "code"}
    assert len({q["id"] for q in queries}) == len(queries)
    assert {case["action"] for case in labelled["strategies"]} == set(ACTION_TARGETS)


def test_heldout_set_shape() -> None:
    heldout = load_set(SET_PATH.with_name("retrieval_heldout.json"))["queries"]
    assert len(heldout) >= 30
    assert {q["library"] for q in heldout} == set(LIBRARIES)
    assert {q["kind"] for q in heldout} == {"task", "code"}
    tuned = {q["query"] for q in load_set(SET_PATH)["queries"]}
    assert not tuned & {q["query"] for q in heldout}  # no query shared with the tuning set
    assert len({q["id"] for q in heldout}) == len(heldout)


def test_labelled_queries_on_the_subset(small_index: DocsIndex) -> None:
    queries = [q for q in load_set(SET_PATH)["queries"] if q["library"] in small_index.libraries]
    scores = evaluate_modes(small_index, queries, k=5)
    # Floors, not the goal figures (those are measured on the whole set by benchmarks/retrieval_bench.py).
    # On this subset vector alone scores higher than hybrid (noted in /work/notes/DOCS_INDEX.md).
    assert scores["hybrid"].recall >= 0.8, scores["hybrid"]
    assert scores["vector"].recall >= 0.7 and scores["fts"].recall >= 0.7, scores
    assert scores["hybrid"].mrr > 0.4, scores["hybrid"]


def test_cli_search_prints_ranked_chunks_with_sources(small_index: DocsIndex, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "DocsIndex", lambda cache_dir=None: small_index)  # cli imports it per command
    assert cli.main(["index", "search", "upload data to remote storage", "--library", "dvc", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("1. ") and "\n2. " in out and "\n3. " in out and "\n4. " not in out
    assert "[dvc | " in out
    assert cli.main(["index", "search", "add files", "--library", "gitpython", "-k", "2", "--json",
                     "--mode", "fts"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and all(row["library"] == "gitpython" for row in rows)
    assert cli.main(["index", "search", "x", "-k", "0"]) == 2


def test_editor_process_imports_no_library(index_dir: Path, small_index: DocsIndex) -> None:
    """Searching (and the whole retrieval path) must not import torch or the indexed libraries."""
    script = (
        "import sys\n"
        "from mlops_lsp.docs_index.store import DocsIndex\n"
        "from mlops_lsp.docs_index.retrieval import retrieve\n"
        "from docs_index_subset import subset_specs\n"
        f"ix = DocsIndex(cache_dir={str(index_dir)!r}, libraries=subset_specs())\n"
        "assert ix.ensure(['dvc', 'gitpython']) == []\n"
        "assert ix.search('dvc push', 'dvc', k=3)\n"
        "retrieve(ix, 'docs-search', 'translate.gitpython-dvc', 'import git\\ngit.Repo.init(\".\")\\n')\n"
        "heavy = sorted(m for m in ('torch', 'dvc', 'git', 'mlflow', 'wandb', 'nncf', 'sentence_transformers')"
        " if m in sys.modules)\n"
        "print(heavy)\n"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)}, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"
