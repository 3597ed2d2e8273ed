"""The LanceDB store on a real table: build, search modes, cache, version change, corruption."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlops_lsp.docs_index.libraries import LibrarySpec
from mlops_lsp.docs_index.store import DocsIndex, table_name

from docs_index_subset import subset_specs


def _symbols(hits) -> list[str]:  # type: ignore[no-untyped-def]
    return [h.symbol for h in hits]


def test_table_per_library_version(small_index: DocsIndex) -> None:
    version = small_index.spec("dvc").version()
    assert version and version.startswith("3.")
    name = table_name("dvc", version)
    assert name in small_index._table_names()
    manifest = json.loads((small_index.cache_dir / "manifests" / f"{name}.json").read_text())
    assert manifest["version"] == version
    assert manifest["chunks"] == small_index.table_for("dvc").count_rows() > 50
    assert small_index.status("dvc") == "fresh"


def test_extracted_api_has_signatures_docs_and_cli_help(small_index: DocsIndex) -> None:
    (init,) = [h for h in small_index.lookup("gitpython", "git.Repo.init") if h.part == 0]
    assert "mkdir" in init.text  # the signature
    assert init.source.startswith("api:git.")
    (push_cli,) = [h for h in small_index.lookup("dvc", "dvc push") if h.part == 0]
    assert "Upload tracked files" in push_cli.text and push_cli.kind == "cli"
    # Undocumented Repo methods get the help of their CLI command.
    (repo_add,) = [h for h in small_index.lookup("dvc", "dvc.repo.Repo.add") if h.part == 0]
    assert "dvc add" in repo_add.text
    guide = small_index.lookup("dvc", "guide:translate.gitpython-dvc")
    assert guide and "dvc_repo.add" in guide[0].text


@pytest.mark.parametrize("backend", ["memory", "lancedb"])
@pytest.mark.parametrize("mode", ["vector", "fts", "hybrid"])
def test_search_modes_find_the_answer(small_index: DocsIndex, mode: str, backend: str) -> None:
    index = DocsIndex(cache_dir=small_index.cache_dir, libraries=subset_specs(), vector_backend=backend,
                      fts_backend=backend)
    hits = index.search("upload tracked data files to remote storage", "dvc", k=5, mode=mode)
    assert len(hits) == 5
    assert {"dvc push", "dvc.repo.Repo.push"} & set(_symbols(hits))
    assert len(set(_symbols(hits))) == 5  # one chunk per symbol
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_code_query_finds_called_api(small_index: DocsIndex) -> None:
    hits = small_index.search("repo.index.add(['data.csv'])\nrepo.index.commit('msg')", "gitpython", k=5)
    assert {"git.IndexFile.add", "git.IndexFile.commit"} & set(_symbols(hits[:3]))


def test_search_across_libraries_merges_tables(small_index: DocsIndex) -> None:
    hits = small_index.search("push commits to the origin remote", None, k=6)
    assert {h.library for h in hits} <= {"dvc", "gitpython"}
    assert "git.Remote.push" in _symbols(hits)


def test_unknown_mode_is_an_error(small_index: DocsIndex) -> None:
    with pytest.raises(ValueError, match="unknown search mode"):
        small_index.search("x", "dvc", mode="semantic")


def _copy_index(small_index: DocsIndex, tmp_path: Path) -> DocsIndex:
    shutil.copytree(small_index.cache_dir, tmp_path / "idx")
    return DocsIndex(cache_dir=tmp_path / "idx", libraries=subset_specs())


def test_version_change_builds_a_new_table_and_drops_the_old(small_index: DocsIndex, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    index = _copy_index(small_index, tmp_path)
    old = table_name("gitpython", index.spec("gitpython").version() or "")
    real_version = LibrarySpec.version
    monkeypatch.setattr(LibrarySpec, "version",
                        lambda self: "99.0.0" if self.name == "gitpython" else real_version(self))
    assert index.status("gitpython") == "missing"
    reports = index.ensure(["gitpython", "dvc"])
    assert [r.library for r in reports] == ["gitpython"]  # dvc is still fresh
    assert reports[0].embedded == 0  # same texts: vectors come from the embedding cache
    assert not reports[0].extraction_cached  # a new version is always extracted again
    assert (index.cache_dir / "extracted" / f"{table_name('gitpython', '99.0.0')}.json").exists()
    names = index._table_names()
    assert table_name("gitpython", "99.0.0") in names and old not in names
    assert index.search("create a new repository", "gitpython", k=3)


def test_changed_fingerprint_is_stale_and_rebuilt(small_index: DocsIndex, tmp_path: Path) -> None:
    index = _copy_index(small_index, tmp_path)
    name = table_name("dvc", index.spec("dvc").version() or "")
    manifest_path = index.cache_dir / "manifests" / f"{name}.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["fingerprint"] = "from-an-older-index-schema"
    manifest_path.write_text(json.dumps(manifest))
    assert index.status("dvc") == "stale"
    (report,) = index.ensure(["dvc"])
    assert report.library == "dvc" and report.extraction_cached  # same version: records reused
    assert index.status("dvc") == "fresh"


def test_corrupt_table_is_rebuilt_not_a_crash(small_index: DocsIndex, tmp_path: Path) -> None:
    index = _copy_index(small_index, tmp_path)
    name = table_name("dvc", index.spec("dvc").version() or "")
    table_dir = index.cache_dir / "lancedb" / f"{name}.lance"
    for data_file in (table_dir / "data").iterdir():
        data_file.write_bytes(b"not a lance file")
    shutil.rmtree(table_dir / "_versions", ignore_errors=True)
    assert index.status("dvc") == "corrupt"
    hits = index.search("initialise dvc in a git repository", "dvc", k=3)
    assert hits and index.status("dvc") == "fresh"


def _dvc_table_dir(index: DocsIndex) -> Path:
    return index.cache_dir / "lancedb" / f"{table_name('dvc', index.spec('dvc').version() or '')}.lance"


@pytest.mark.parametrize("garbage", [b"{not json", b"[1, 2]", b"\xff\xfe\x00garbage", b""])
def test_unreadable_manifest_triggers_rebuild(small_index: DocsIndex, tmp_path: Path, garbage: bytes) -> None:
    index = _copy_index(small_index, tmp_path)
    name = table_name("dvc", index.spec("dvc").version() or "")
    (index.cache_dir / "manifests" / f"{name}.json").write_bytes(garbage)
    assert index.status("dvc") == "missing"
    assert index.search("dvc add", "dvc", k=1)
    assert index.status("dvc") == "fresh"


def test_truncated_table_data_is_detected_and_rebuilt(small_index: DocsIndex, tmp_path: Path) -> None:
    index = _copy_index(small_index, tmp_path)
    data_files = sorted((_dvc_table_dir(index) / "data").iterdir())
    for data_file in data_files:  # cut every data file in half; the version metadata stays intact
        data_file.write_bytes(data_file.read_bytes()[: data_file.stat().st_size // 2])
    assert index.status("dvc") == "corrupt"  # row counts come from metadata: the rows must be read
    hits = index.search("upload tracked files to remote storage", "dvc", k=3)
    assert {"dvc push", "dvc.repo.Repo.push"} & set(_symbols(hits))
    assert index.status("dvc") == "fresh"


@pytest.mark.parametrize("what", ["table directory", "data files", "version files"])
def test_deleted_table_files_are_detected_and_rebuilt(small_index: DocsIndex, tmp_path: Path, what: str) -> None:
    index = _copy_index(small_index, tmp_path)
    table_dir = _dvc_table_dir(index)
    target = {"table directory": table_dir, "data files": table_dir / "data",
              "version files": table_dir / "_versions"}[what]
    shutil.rmtree(target)
    assert index.status("dvc") in {"corrupt", "missing"}
    assert index.search("initialise dvc in a git repository", "dvc", k=3)
    assert index.status("dvc") == "fresh"


def test_table_broken_after_it_was_opened_is_rebuilt_at_query_time(small_index: DocsIndex, tmp_path: Path) -> None:
    """A process that verified the table once and then finds it broken (deleted by a cache cleaner)
    rebuilds it on the next query instead of raising."""
    index = _copy_index(small_index, tmp_path)
    assert index.search("dvc push", "dvc", k=1)
    index._memory.clear()  # the rows in memory would hide the damage: force a re-read
    shutil.rmtree(_dvc_table_dir(index) / "data")
    hits = index.search("upload tracked files to remote storage", "dvc", k=3)
    assert hits and index.status("dvc") == "fresh"


def test_cache_dir_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mlops_lsp.docs_index.store import default_cache_dir

    monkeypatch.setenv("MLOPS_LSP_INDEX_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("MLOPS_LSP_INDEX_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "mlops-lsp" / "docs-index"


@pytest.mark.parametrize("query", [
    "upload tracked data files to remote storage",
    "repo.index.add(['data.csv'])\nrepo.index.commit('msg')",
    "initialise dvc in a git repository",
])
def test_memory_vector_backend_ranks_like_lancedb(small_index: DocsIndex, query: str) -> None:
    # Same full-text backend on both sides: only the vector search differs.
    memory = DocsIndex(cache_dir=small_index.cache_dir, libraries=subset_specs(), vector_backend="memory",
                       fts_backend="lancedb")
    lancedb = DocsIndex(cache_dir=small_index.cache_dir, libraries=subset_specs(), vector_backend="lancedb",
                        fts_backend="lancedb")
    for library in ("dvc", "gitpython"):
        for mode in ("vector", "hybrid"):
            ours = memory.search(query, library, k=5, mode=mode)
            reference = lancedb.search(query, library, k=5, mode=mode)
            assert _symbols(ours) == _symbols(reference)
            assert [round(h.score, 4) for h in ours] == [round(h.score, 4) for h in reference]


def test_unknown_vector_backend() -> None:
    with pytest.raises(ValueError, match="unknown vector backend"):
        DocsIndex(vector_backend="faiss")
    with pytest.raises(ValueError, match="unknown full-text backend"):
        DocsIndex(fts_backend="elastic")
