"""The LanceDB store: one table per library version, vector + full-text search, fused hybrid search.

Layout under the cache directory (``MLOPS_LSP_INDEX_DIR``, else
``${XDG_CACHE_HOME:-~/.cache}/mlops-lsp/docs-index``)::

    lancedb/<library>__<version>.lance     the tables (name = library + installed version)
    manifests/<table>.json                  fingerprint + chunk count + build timings
    embeddings/<library>.npz                embedding cache keyed by the hash of the embedded text

A table is (re)built on first use when its manifest is missing or not a JSON object, its
fingerprint differs (library version, index schema, embedding model, extraction spec or guides
changed), or its rows cannot be read (deleted or truncated files: ``status()`` reads them, since
LanceDB's row count comes from metadata) or searched: then it is rebuilt, not reported as a crash.

Query path (default ``vector_backend="memory"``, ``fts_backend="memory"``): a table's rows are read
once per process; the vector ranking is one matrix-vector product, the full-text ranking an
in-process BM25 (:mod:`.lexical`), and hybrid = reciprocal-rank fusion of the vector, BM25 and
called-name rankings minus a small public-API depth prior. The LanceDB vector and native FTS
queries stay available (``"lancedb"``) and are what the in-memory vector ranking is tested against.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from . import SEARCH_MODES
from .chunking import Chunk, chunks_from_records, cli_backed_docs, guide_chunks, identifier_words, readme_chunks
from .lexical import BM25Index
from .embedding import DIMENSION, DOCUMENT_MAX_TOKENS, MODEL_ID, Embedder, get_embedder
from .guides import GUIDES
from .libraries import ACTION_TARGETS, LIBRARIES, LibrarySpec

SCHEMA_VERSION = 8
FTS_COLUMNS = ("fts_text", "name_words")
RRF_K = 60  # the usual reciprocal-rank-fusion constant (Cormack et al. 2009)
# Public-API prior of the hybrid ranking: each level of nesting below ``library.member`` costs this
# much fused score, about four places in one ranking (1/61 - 1/65). Scripts call the shallow entry
# points (``nncf.prune``, ``mlflow.log_params``) far more often than deep internals, which otherwise
# win on shared vocabulary. On the labelled set any value in 0.0005-0.003 gave the same recall.
DEPTH_PENALTY = 0.001
_NOT_API_KINDS = frozenset({"guide", "doc", "cli", "generated"})
QUERY_CACHE_SIZE = 512
# Where the query path ranks: "memory" (the table's rows read from LanceDB once per process:
# vectors scanned with one matrix-vector product, full text with an in-process BM25) or "lancedb"
# (a LanceDB vector / native FTS query each time: 3-6 ms of fixed overhead per query).
VECTOR_BACKENDS = ("lancedb", "memory")
FTS_BACKENDS = ("lancedb", "memory")
EXTRACT_TIMEOUT_S = 300
_WORKER = Path(__file__).with_name("_extract_worker.py")


def _log(message: str) -> None:
    print(f"[docs-index] {message}", file=sys.stderr)


class IndexError_(RuntimeError):
    """A library could not be indexed (extraction failed, library not installed...)."""


class BuildFailed(IndexError_):
    """Some libraries could not be built; ``reports`` holds the ones that were."""

    def __init__(self, message: str, reports: list["BuildReport"]) -> None:
        super().__init__(message)
        self.reports = reports


def default_cache_dir() -> Path:
    override = os.environ.get("MLOPS_LSP_INDEX_DIR")
    if override:
        return Path(override).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "mlops-lsp" / "docs-index"


@dataclasses.dataclass
class SearchHit:
    library: str
    symbol: str
    kind: str
    source: str
    text: str
    score: float
    part: int = 0
    aliases: tuple[str, ...] = ()
    summary: str = ""  # the short text that was embedded: symbol, parameters, opening paragraph

    def names(self) -> tuple[str, ...]:
        return (self.symbol, *self.aliases)


@dataclasses.dataclass
class BuildReport:
    library: str
    version: str
    table: str
    chunks: int
    extract_seconds: float
    embed_seconds: float
    write_seconds: float
    embedded: int  # chunks that needed a fresh embedding (the rest came from the cache)
    extraction_cached: bool = False  # records reused from the extraction cache (same version and extractor)
    # CPU seconds: of the extraction subprocess (imports + inspection), and of this process's
    # building thread for embedding and for writing the table (thread CPU time).
    extract_cpu_seconds: float = 0.0
    embed_cpu_seconds: float = 0.0
    write_cpu_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.extract_seconds + self.embed_seconds + self.write_seconds


def table_name(library: str, version: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{library}__{version}")


def guides_for_library(library: str) -> dict[str, str]:
    return {action: GUIDES[action] for action, target in ACTION_TARGETS.items() if target == library and action in GUIDES}


def extraction_fingerprint(spec: LibrarySpec, version: str) -> str:
    """What the extracted records depend on: library version, extraction spec, extractor code."""
    payload = {"version": version, "targets": spec.targets, "cli": spec.cli,
               "worker": hashlib.sha1(_WORKER.read_bytes()).hexdigest()}
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def fingerprint(spec: LibrarySpec, version: str) -> str:
    payload = {
        "schema": SCHEMA_VERSION,
        "model": MODEL_ID,
        "doc_tokens": DOCUMENT_MAX_TOKENS,
        "library": spec.name,
        "version": version,
        "targets": spec.targets,
        "cli": spec.cli,
        "guides": guides_for_library(spec.name),
        # The extraction and chunking code shape the table too.
        "code": [hashlib.sha1(Path(__file__).with_name(name).read_bytes()).hexdigest()
                 for name in ("_extract_worker.py", "chunking.py")],
    }
    return hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def extract_records(spec: LibrarySpec) -> list[dict[str, Any]]:
    """Run the extractor worker for ``spec`` in a subprocess and return its records."""
    records, _ = extract_records_timed(spec)
    return records


def extract_records_timed(spec: LibrarySpec) -> tuple[list[dict[str, Any]], float]:
    """The records and the CPU seconds the extraction subprocess used (0.0 when not reported)."""
    payload = json.dumps({"roots": list(spec.roots), "targets": list(spec.targets), "cli": list(spec.cli)})
    env = dict(os.environ)
    # Keep the libraries quiet and offline while they are imported.
    env.update({"DVC_NO_ANALYTICS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
                "HF_HUB_OFFLINE": "1", "DO_NOT_TRACK": "1", "PYTHONWARNINGS": "ignore",
                "KERAS_BACKEND": env.get("KERAS_BACKEND", "torch")})
    env.update(spec.env)
    with tempfile.TemporaryDirectory(prefix="mlops-lsp-extract-") as tmp:
        out = Path(tmp) / "records.json"
        try:
            proc = subprocess.run(
                [sys.executable, str(_WORKER), str(out)], input=payload, text=True, capture_output=True,
                env=env, timeout=EXTRACT_TIMEOUT_S, cwd=tmp,
            )
        except subprocess.TimeoutExpired as exc:
            raise IndexError_(f"extracting {spec.name} timed out after {EXTRACT_TIMEOUT_S} s") from exc
        cpu = 0.0
        for line in proc.stderr.splitlines():
            if line.startswith("[docs-index extract]"):
                message = line.split("] ", 1)[-1]
                used = re.fullmatch(r"cpu ([0-9.]+) s", message)
                if used:
                    cpu = float(used.group(1))
                else:
                    _log(f"{spec.name}: {message}")
        if proc.returncode != 0 or not out.exists():
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            raise IndexError_(f"extracting {spec.name} failed (exit {proc.returncode}): {tail}")
        return json.loads(out.read_text(encoding="utf-8")), cpu


def library_chunks(spec: LibrarySpec, records: list[dict[str, Any]]) -> list[Chunk]:
    if spec.name == "dvc":
        records = cli_backed_docs(records, "dvc", "dvc.repo.Repo")
    chunks = guide_chunks(spec.name, guides_for_library(spec.name))
    chunks += chunks_from_records(spec.name, records)
    if spec.name != "torch-prune":  # the torch README says nothing about pruning
        chunks += readme_chunks(spec.name, spec.distribution)
    return chunks


def _fts_query(text: str) -> str:
    """Plain words for the full-text query: code punctuation would otherwise reach the parser."""
    words = re.findall(r"[A-Za-z0-9]+", f"{text} {identifier_words(text)}")
    unique = list(dict.fromkeys(w.lower() for w in words if len(w) > 1))
    return " ".join(unique[:64])


def api_depth_penalty(hit: SearchHit) -> float:
    """DEPTH_PENALTY per nesting level below ``library.member``; guides, docs and CLI help: none."""
    if hit.kind in _NOT_API_KINDS:
        return 0.0
    return DEPTH_PENALTY * max(0, hit.symbol.count(".") - 1)


def rrf_fuse(rankings: Iterable[Sequence[SearchHit]], k: int, weights: Sequence[float] | None = None,
             prior: Callable[[SearchHit], float] | None = None) -> list[SearchHit]:
    """Reciprocal rank fusion of ranked hit lists (same symbol = same item); best first.

    A symbol counts once per ranking, at its best rank: the parts of a long docstring must not
    add up (that favoured long documents over the short one that answers)."""
    scores: dict[tuple[str, str], float] = {}
    best: dict[tuple[str, str], SearchHit] = {}
    for index, ranking in enumerate(rankings):
        weight = 1.0 if weights is None else weights[index]
        for rank, hit in enumerate(_dedupe(ranking, len(ranking))):
            key = (hit.library, hit.symbol)
            scores[key] = scores.get(key, 0.0) + weight / (RRF_K + rank + 1)
            if key not in best or hit.part < best[key].part:
                best[key] = hit
    if prior is not None:
        scores = {key: score - prior(best[key]) for key, score in scores.items()}
    ordered = sorted(scores, key=lambda key: -scores[key])[:k]
    return [dataclasses.replace(best[key], score=scores[key]) for key in ordered]


def interleave(rankings: Iterable[Sequence[SearchHit]], k: int) -> list[SearchHit]:
    """Round-robin merge (1st of each ranking, then 2nd of each...), one hit per symbol.

    Used when each ranking answers a different need (one query per needed function): fusion
    by rank sums would favour generic chunks that appear in every ranking."""
    lists = [list(r) for r in rankings]
    merged: list[SearchHit] = []
    seen: set[tuple[str, str]] = set()
    for depth in range(max((len(r) for r in lists), default=0)):
        for ranking in lists:
            if depth < len(ranking):
                hit = ranking[depth]
                key = (hit.library, hit.symbol)
                if key not in seen:
                    seen.add(key)
                    merged.append(hit)
                    if len(merged) == k:
                        return merged
    return merged


def _dedupe(hits: Iterable[SearchHit], k: int) -> list[SearchHit]:
    seen: set[tuple[str, str]] = set()
    result: list[SearchHit] = []
    for hit in hits:
        key = (hit.library, hit.symbol)
        if key in seen:
            continue
        seen.add(key)
        result.append(hit)
        if len(result) == k:
            break
    return result


@dataclasses.dataclass
class MemoryView:
    """A table's rows held in the process: vectors, hits (row order) and the BM25 index."""

    matrix: np.ndarray
    hits: list[SearchHit]
    bm25: BM25Index


_CODE_LIKE = re.compile(r"[()\[\]{}=]|[A-Za-z_]\.[A-Za-z_]")


def embedding_text(query: str) -> str:
    """The text embedded for a query. Code is turned into its identifiers as words
    (``trial.suggest_float('lr', log=True)`` -> ``trial suggest float lr log True``): the
    documents are embedded from prose summaries, and punctuation would otherwise cost tokens
    (the query embedding dominates the latency) and pull the vector towards other code."""
    if not _CODE_LIKE.search(query):
        return query
    words = identifier_words(query).split()
    return " ".join(dict.fromkeys(words)) or query


class DocsIndex:
    """Per-library LanceDB tables, built on first use and cached per installed version."""

    def __init__(self, cache_dir: Path | str | None = None, embedder: Embedder | None = None,
                 libraries: Mapping[str, LibrarySpec] | None = None, vector_backend: str | None = None,
                 fts_backend: str | None = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        # Which libraries this index knows; tests pass a small real subset.
        self.libraries: dict[str, LibrarySpec] = dict(libraries or LIBRARIES)
        self._embedder = embedder
        self._db: Any = None
        self._tables: dict[str, Any] = {}
        self._lock = threading.RLock()
        # Full-text and vector queries of one search run side by side (LanceDB releases the GIL),
        # and the full-text query overlaps the query embedding.
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="docs-index")
        self._query_vectors: dict[str, np.ndarray] = {}
        # Libraries whose table was verified fresh in this process: the per-query path must not
        # re-read manifests and re-hash sources (a version change needs a new process anyway).
        self._fresh: dict[str, str] = {}
        # See VECTOR_BACKENDS: "memory" ranks exactly like LanceDB for vectors (tested) at a
        # fraction of the cost; its BM25 tokenises identifiers and stems (lexical.py).
        self.vector_backend = vector_backend or os.environ.get("MLOPS_LSP_VECTOR_SEARCH", "memory")
        if self.vector_backend not in VECTOR_BACKENDS:
            raise ValueError(f"unknown vector backend {self.vector_backend!r}; use one of {', '.join(VECTOR_BACKENDS)}")
        self.fts_backend = fts_backend or os.environ.get("MLOPS_LSP_FTS_SEARCH", "memory")
        if self.fts_backend not in FTS_BACKENDS:
            raise ValueError(f"unknown full-text backend {self.fts_backend!r}; use one of {', '.join(FTS_BACKENDS)}")
        self._memory: dict[str, MemoryView] = {}

    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding, memoised (bounded): the editor repeats the same intent queries."""
        vector = self._query_vectors.get(query)
        if vector is None:
            vector = self.embedder.embed([embedding_text(query)])[0]
            if len(self._query_vectors) >= QUERY_CACHE_SIZE:
                self._query_vectors.pop(next(iter(self._query_vectors)))
            self._query_vectors[query] = vector
        return vector

    def query_vectors(self, queries: Sequence[str]) -> list[np.ndarray]:
        """Embeddings of several queries, the missing ones in one batch: a short query's cost is
        mostly reading the model's weights, which one batch does once for all of them."""
        missing = list(dict.fromkeys(q for q in queries if q not in self._query_vectors))
        if missing:
            vectors = self.embedder.embed([embedding_text(q) for q in missing])
            for query, vector in zip(missing, vectors):
                if len(self._query_vectors) >= QUERY_CACHE_SIZE:
                    self._query_vectors.pop(next(iter(self._query_vectors)))
                self._query_vectors[query] = vector
        return [self._query_vectors[q] if q in self._query_vectors else self.query_vector(q) for q in queries]

    def clear_query_cache(self) -> None:
        self._query_vectors.clear()

    # -- plumbing ---------------------------------------------------------------------------
    def spec(self, library: str) -> LibrarySpec:
        try:
            return self.libraries[library]
        except KeyError:
            raise KeyError(f"unknown library {library!r}; known: {', '.join(sorted(self.libraries))}") from None

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder()
        return self._embedder

    def _connect(self) -> Any:
        if self._db is None:
            # Lance's Rust logger writes warnings ("No existing dataset...") to stderr otherwise.
            os.environ.setdefault("LANCEDB_LOG", "error")
            import lancedb

            (self.cache_dir / "lancedb").mkdir(parents=True, exist_ok=True)
            self._db = lancedb.connect(str(self.cache_dir / "lancedb"))
        return self._db

    def _manifest_path(self, table: str) -> Path:
        return self.cache_dir / "manifests" / f"{table}.json"

    def _read_manifest(self, table: str) -> dict[str, Any] | None:
        path = self._manifest_path(table)
        if not path.exists():
            return None
        try:
            manifest = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            _log(f"unreadable manifest {path}: {exc}; the table will be rebuilt")
            return None
        if not isinstance(manifest, dict):
            _log(f"manifest {path} is not a JSON object; the table will be rebuilt")
            return None
        return manifest

    def _version(self, spec: LibrarySpec) -> str:
        version = spec.version()
        if version is None:
            raise IndexError_(f"{spec.name} is not installed (distribution {spec.distribution!r})")
        return version

    # -- build ------------------------------------------------------------------------------
    def status(self, library: str) -> str:
        """"fresh", "missing", "stale" (fingerprint changed) or "corrupt"."""
        spec = self.spec(library)
        version = self._version(spec)
        table = table_name(spec.name, version)
        manifest = self._read_manifest(table)
        if manifest is None:
            return "missing"
        if manifest.get("fingerprint") != fingerprint(spec, version):
            return "stale"
        try:
            handle = self._open_table(table)
            rows = handle.count_rows()
            # count_rows reads metadata only: truncated or overwritten data files show up when the
            # rows are read. Reading them is what the first query does anyway (the in-memory view,
            # kept for the process: a later status() call costs nothing).
            if rows == manifest.get("chunks"):
                read = len(self._memory_view(handle).hits)
                if read != rows:
                    raise IndexError_(f"{read} rows read, {rows} expected")
        except Exception as exc:  # any LanceDB/IO failure means the stored table is unusable
            _log(f"table {table} cannot be read: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            with self._lock:
                self._tables.pop(table, None)
                self._memory.pop(table, None)
            return "corrupt"
        return "fresh" if rows == manifest.get("chunks") else "corrupt"

    def ensure(self, libraries: Iterable[str]) -> list[BuildReport]:
        """Build the tables that are missing, stale or corrupt; fresh ones are left alone."""
        todo = [lib for lib in dict.fromkeys(libraries) if self.status(lib) != "fresh"]
        return self.build(todo, reuse_extraction=True) if todo else []

    def build(self, libraries: Iterable[str] | None = None, reuse_extraction: bool = False) -> list[BuildReport]:
        """(Re)build the tables of ``libraries`` (all when None). Extraction subprocesses run two at
        a time while the main thread embeds and writes the libraries already extracted.

        ``reuse_extraction``: use the records cached from an earlier extraction of the same library
        version with the same extractor (automatic rebuilds after a chunking/schema change do; an
        explicit ``index build`` re-extracts)."""
        names = list(dict.fromkeys(libraries or self.libraries))
        specs = [self.spec(name) for name in names]
        versions = {spec.name: self._version(spec) for spec in specs}
        reports: list[BuildReport] = []
        errors: list[str] = []
        for name in names:
            self._fresh.pop(name, None)
        # Longest extraction first (LPT scheduling): mlflow and lightning import torch and take most
        # of the time; started last, one of them would finish alone while the other worker idles.
        by_cost = sorted(specs, key=lambda spec: -spec.extract_cost)
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            started = {pool.submit(self._timed_extract, spec, versions[spec.name], reuse_extraction): spec
                       for spec in by_cost}
            # While the first extractions run, load what the table writes need (LanceDB's first
            # table creation took 7-11 s of start-up, the model a few seconds): off the critical path.
            self._connect()
            self.embedder.embed(["warm up"])
            for future in concurrent.futures.as_completed(started):
                spec = started[future]
                try:
                    records, extract_seconds, cached, extract_cpu = future.result()
                    report = self._build_table(spec, versions[spec.name], records, extract_seconds)
                    reports.append(dataclasses.replace(report, extraction_cached=cached,
                                                       extract_cpu_seconds=extract_cpu))
                except IndexError_ as exc:  # one broken library must not stop the others
                    _log(str(exc))
                    errors.append(str(exc))
        order = {name: i for i, name in enumerate(names)}
        reports.sort(key=lambda r: order[r.library])
        if errors:
            raise BuildFailed("; ".join(errors), reports)
        return reports

    def _timed_extract(self, spec: LibrarySpec, version: str,
                       reuse: bool) -> tuple[list[dict[str, Any]], float, bool, float]:
        """The library's records, the seconds it took, True when they came from the cache, and
        the extraction subprocess's CPU seconds.
        The cache key holds the installed version: a new version is always extracted again."""
        start = time.perf_counter()
        cache = self.cache_dir / "extracted" / f"{table_name(spec.name, version)}.json"
        key = extraction_fingerprint(spec, version)
        if reuse and cache.exists():
            try:
                cached = json.loads(cache.read_text(encoding="utf-8"))
                if cached.get("fingerprint") == key:
                    return cached["records"], time.perf_counter() - start, True, 0.0
            except (OSError, json.JSONDecodeError, AttributeError) as exc:
                _log(f"extraction cache {cache} unreadable ({exc}); extracting again")
        records, cpu = extract_records_timed(spec)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"fingerprint": key, "records": records}), encoding="utf-8")
        return records, time.perf_counter() - start, False, cpu

    def _embed_with_cache(self, library: str, chunks: list[Chunk]) -> tuple[np.ndarray, int, float]:
        """Vectors for ``chunks``, cached by the hash of the embedded text so a rebuild only embeds
        what changed. Continuation parts share the vector of their symbol's first part: giving
        them their own vectors was measured to crowd the top-k with fragments (hybrid recall@5
        0.857 -> 0.816 on the labelled set)."""
        start = time.perf_counter()
        cache_path = self.cache_dir / "embeddings" / f"{library}.npz"
        cache: dict[str, np.ndarray] = {}
        if cache_path.exists():
            try:
                with np.load(cache_path) as data:
                    cache = {key: data[key] for key in data.files}
            except Exception as exc:
                _log(f"embedding cache {cache_path} unreadable ({exc}); re-embedding")
        first_parts = [c for c in chunks if c.part == 0]
        missing = list(dict.fromkeys(c.embed_text for c in first_parts if c.content_hash() not in cache))
        if missing:
            vectors = self.embedder.embed(missing, max_tokens=DOCUMENT_MAX_TOKENS)
            for text, vector in zip(missing, vectors):
                cache[hashlib.sha1(text.encode("utf-8")).hexdigest()] = vector
        by_symbol = {c.symbol: cache[c.content_hash()] for c in first_parts}
        matrix = np.stack([by_symbol[c.symbol] for c in chunks]).astype(np.float32)
        keep = {c.content_hash() for c in first_parts}
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_path.with_suffix(".tmp.npz")
        np.savez(tmp, **{key: value for key, value in cache.items() if key in keep})
        os.replace(tmp, cache_path)
        return matrix, len(missing), time.perf_counter() - start

    def _build_table(self, spec: LibrarySpec, version: str, records: list[dict[str, Any]],
                     extract_seconds: float) -> BuildReport:
        import pyarrow as pa

        chunks = library_chunks(spec, records)
        if not chunks:
            raise IndexError_(f"no documentation extracted for {spec.name}")
        cpu_start = time.thread_time()
        vectors, embedded, embed_seconds = self._embed_with_cache(spec.name, chunks)
        embed_cpu = time.thread_time() - cpu_start
        start, cpu_start = time.perf_counter(), time.thread_time()
        table = table_name(spec.name, version)
        data = pa.table({
            "chunk_id": [c.chunk_id for c in chunks],
            "library": [c.library for c in chunks],
            "symbol": [c.symbol for c in chunks],
            "aliases": ["\n".join(c.aliases) for c in chunks],
            "kind": [c.kind for c in chunks],
            "source": [c.source for c in chunks],
            "part": pa.array([c.part for c in chunks], pa.int32()),
            "text": [c.text for c in chunks],
            "summary": [c.embed_text for c in chunks],
            "name_words": [identifier_words(" ".join([c.symbol, *c.aliases])) for c in chunks],
            "fts_text": [c.fts_text for c in chunks],
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1), pa.float32()), DIMENSION),
        })
        with self._lock:
            db = self._connect()
            self._tables.pop(table, None)
            self._memory.pop(table, None)
            try:
                handle = db.create_table(table, data=data, mode="overwrite")
            except Exception as exc:  # a corrupt directory can block overwrite: remove it and retry
                _log(f"overwriting {table} failed ({type(exc).__name__}: {exc}); recreating it")
                shutil.rmtree(self.cache_dir / "lancedb" / f"{table}.lance", ignore_errors=True)
                handle = db.create_table(table, data=data, mode="create")
            with warnings.catch_warnings():
                # lancedb 0.40 marks create_fts_index deprecated in favour of create_index(config=FTS())
                # whose sync-table signature is still vector-only; the native FTS index is the same.
                warnings.simplefilter("ignore", category=DeprecationWarning)
                handle.create_fts_index("fts_text", replace=True, with_position=False)
                handle.create_fts_index("name_words", replace=True, with_position=False)
            self._tables[table] = handle
            self._drop_other_versions(spec.name, table)
            manifest = {
                "library": spec.name, "version": version, "table": table, "chunks": len(chunks),
                "fingerprint": fingerprint(spec, version), "built_at": time.time(),
            }
            self._manifest_path(table).parent.mkdir(parents=True, exist_ok=True)
            self._manifest_path(table).write_text(json.dumps(manifest, indent=1))
        write_seconds, write_cpu = time.perf_counter() - start, time.thread_time() - cpu_start
        _log(f"built {table}: {len(chunks)} chunks (extract {extract_seconds:.1f}s, embed {embed_seconds:.1f}s "
             f"[{embedded} new], write {write_seconds:.1f}s)")
        return BuildReport(spec.name, version, table, len(chunks), extract_seconds, embed_seconds,
                           write_seconds, embedded, embed_cpu_seconds=embed_cpu, write_cpu_seconds=write_cpu)

    def _drop_other_versions(self, library: str, keep: str) -> None:
        prefix = table_name(library, "")
        for name in self._table_names():
            if name.startswith(prefix) and name != keep and name[len(prefix):len(prefix) + 1].isdigit():
                _log(f"dropping {name} (replaced by {keep})")
                self._connect().drop_table(name)
                self._tables.pop(name, None)
                self._memory.pop(name, None)
                self._manifest_path(name).unlink(missing_ok=True)

    def _table_names(self) -> list[str]:
        db = self._connect()
        listing = db.list_tables() if hasattr(db, "list_tables") else db.table_names()
        names = getattr(listing, "tables", listing)
        return list(names)

    # -- search -----------------------------------------------------------------------------
    def _open_table(self, table: str) -> Any:
        with self._lock:
            if table not in self._tables:
                self._tables[table] = self._connect().open_table(table)
            return self._tables[table]

    def table_for(self, library: str) -> Any:
        """The table of ``library``'s installed version, built first if needed."""
        table = self._fresh.get(library)
        if table is None:
            self.ensure([library])
            spec = self.spec(library)
            table = table_name(spec.name, self._version(spec))
            self._fresh[library] = table
        return self._open_table(table)

    def _rows_to_hits(self, rows: list[dict[str, Any]], score_key: str, higher_is_better: bool) -> list[SearchHit]:
        hits = []
        for row in rows:
            raw = float(row.get(score_key, 0.0))
            hits.append(SearchHit(
                library=row["library"], symbol=row["symbol"], kind=row["kind"], source=row["source"],
                text=row["text"], part=int(row["part"]), summary=row.get("summary") or "",
                score=raw if higher_is_better else 1.0 - raw,
                aliases=tuple(a for a in (row.get("aliases") or "").split("\n") if a),
            ))
        return hits

    _COLUMNS = ["library", "symbol", "aliases", "kind", "source", "part", "text", "summary"]

    def _memory_view(self, table: Any) -> "MemoryView":
        view = self._memory.get(table.name)
        if view is None:
            arrow = table.to_arrow()
            vectors = arrow.column("vector").combine_chunks()
            matrix = np.asarray(vectors.flatten().to_numpy(zero_copy_only=False), dtype=np.float32)
            if matrix.size != arrow.num_rows * DIMENSION:
                raise IndexError_(f"table {table.name}: vectors of the wrong size ({matrix.size} values)")
            matrix = matrix.reshape(arrow.num_rows, DIMENSION)
            data = arrow.select([c for c in arrow.column_names if c != "vector"]).to_pydict()
            bm25 = BM25Index([data[column] for column in FTS_COLUMNS])
            rows = [dict(zip(data, values)) for values in zip(*data.values())]
            view = MemoryView(matrix, self._rows_to_hits(rows, "_none", higher_is_better=True), bm25)
            self._memory[table.name] = view
        return view

    @staticmethod
    def _ranked(hits: Sequence[SearchHit], scores: np.ndarray, limit: int,
                keep: Callable[[SearchHit], bool] | None = None, positive: bool = False) -> list[SearchHit]:
        """The ``limit`` best rows by ``scores``, one per symbol (its best-scoring part)."""
        order = np.argsort(-scores, kind="stable")
        ranked = []
        seen: set[str] = set()
        for index in order:
            if positive and scores[index] <= 0:
                break
            hit = hits[index]
            if hit.symbol not in seen and (keep is None or keep(hit)):
                seen.add(hit.symbol)
                ranked.append(dataclasses.replace(hit, score=float(scores[index])))
                if len(ranked) == limit:
                    break
        return ranked

    def _memory_ranking(self, table: Any, vector: np.ndarray, limit: int,
                        keep: Callable[[SearchHit], bool] | None = None) -> list[SearchHit]:
        view = self._memory_view(table)
        # Vectors are unit length: the dot product is the cosine similarity LanceDB reports as 1 - distance.
        return self._ranked(view.hits, view.matrix @ np.asarray(vector, dtype=np.float32), limit, keep)

    def _vector_search(self, table: Any, vector: np.ndarray, limit: int) -> list[SearchHit]:
        if self.vector_backend == "memory":
            return self._memory_ranking(table, vector, limit)
        rows = (table.search(vector, vector_column_name="vector").distance_type("cosine")
                .select([*self._COLUMNS, "_distance"]).limit(limit).to_list())
        return self._rows_to_hits(rows, "_distance", higher_is_better=False)

    def _fts_search(self, table: Any, query: str, limit: int, columns: Sequence[str] = FTS_COLUMNS,
                    boosts: Sequence[float] | None = None) -> list[SearchHit]:
        """BM25 over the full text and, as a second field, the symbol's name words (the usual
        title field of multi-field search: a query naming the API should find it first)."""
        if self.fts_backend == "memory":
            view = self._memory_view(table)
            return self._ranked(view.hits, view.bm25.scores(query), limit, positive=True)
        words = _fts_query(query)
        if not words:
            return []
        from lancedb.query import MultiMatchQuery

        full_text = MultiMatchQuery(words, list(columns), boosts=list(boosts) if boosts else None)
        rows = (table.search(full_text, query_type="fts")
                .select([*self._COLUMNS, "_score"]).limit(limit).to_list())
        return self._rows_to_hits(rows, "_score", higher_is_better=True)

    def search(self, query: str, library: str | Sequence[str] | None = None, k: int = 5,
               mode: str = "hybrid", vector: np.ndarray | None = None) -> list[SearchHit]:
        """Top ``k`` chunks (one per symbol) for ``query`` in the given libraries (all when None)."""
        if mode not in SEARCH_MODES:
            raise ValueError(f"unknown search mode {mode!r}; use one of {', '.join(SEARCH_MODES)}")
        libraries = [library] if isinstance(library, str) else list(library or self.libraries)
        if mode == "fts" or vector is not None:
            per_library = [self._search_library(lib, query, vector, k, mode) for lib in libraries]
        else:
            per_library = [self._search_library(lib, query, None, k, mode, lazy_vector=True) for lib in libraries]
        if len(per_library) == 1:
            return per_library[0]
        # Across tables, merge by score: within one mode the scores of different tables are on the
        # same scale (cosine similarity, BM25, or the same fused formula), while fusing by rank
        # would tie every table's first hit.
        merged = sorted((hit for hits in per_library for hit in hits), key=lambda hit: -hit.score)
        return merged[:k]

    def _search_library(self, library: str, query: str, vector: np.ndarray | None, k: int,
                        mode: str, lazy_vector: bool = False) -> list[SearchHit]:
        try:
            return self._search_table(self.table_for(library), query, vector, k, mode, lazy_vector)
        except IndexError_:
            raise
        except Exception as exc:  # a table that fails at query time is treated as corrupt: rebuild once
            _log(f"search in {library} failed ({type(exc).__name__}: {exc}); rebuilding its table")
            self.build([library], reuse_extraction=True)
            return self._search_table(self.table_for(library), query, vector, k, mode, lazy_vector)

    def _symbol_search(self, table: Any, query: str, vector: np.ndarray, limit: int) -> list[SearchHit]:
        """Chunks whose symbol ends with a name the query calls (``self.log(`` -> ``*.log``),
        ordered by vector similarity: code queries name the API they use."""
        called = list(dict.fromkeys(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(", query)))[:6]
        called = [name for name in called if len(name) > 2]
        if not called:
            return []
        if self.vector_backend == "memory":
            endings = tuple(f"{sep}{name}" for name in called for sep in (".", " "))
            return self._memory_ranking(table, vector, limit, keep=lambda hit: hit.symbol.endswith(endings))
        clauses = " OR ".join(f"symbol LIKE '%.{name}' OR symbol LIKE '% {name}'" for name in called)
        rows = (table.search(vector, vector_column_name="vector").distance_type("cosine")
                .where(clauses, prefilter=True).select([*self._COLUMNS, "_distance"]).limit(limit).to_list())
        return self._rows_to_hits(rows, "_distance", higher_is_better=False)

    def _search_table(self, table: Any, query: str, vector: np.ndarray | None, k: int, mode: str,
                      lazy_vector: bool = False) -> list[SearchHit]:
        # Fetch more than k: continuation parts of one symbol are collapsed afterwards.
        limit = max(3 * k, 15)
        if mode == "fts":
            return _dedupe(self._fts_search(table, query, limit), k)
        in_memory = self.vector_backend == "memory" and self.fts_backend == "memory"
        # LanceDB queries release the GIL: run the full-text one while the query is embedded. The
        # in-memory rankings take microseconds, where a thread hand-off would cost more.
        fts_future = (self._pool.submit(self._fts_search, table, query, limit)
                      if mode == "hybrid" and not in_memory else None)
        if vector is None:
            vector = self.query_vector(query)
        if mode == "vector":
            return _dedupe(self._vector_search(table, vector, limit), k)
        fts_ranking = fts_future.result() if fts_future else self._fts_search(table, query, limit)
        rankings = [self._vector_search(table, vector, limit), fts_ranking]
        symbol_ranking = self._symbol_search(table, query, vector, limit)
        if symbol_ranking:
            rankings.append(symbol_ranking)
        return rrf_fuse(rankings, k, prior=api_depth_penalty)

    def lookup(self, library: str, symbol: str) -> list[SearchHit]:
        """All parts of ``symbol`` (exact name or alias) in ``library``'s table, in order."""
        table = self.table_for(library)
        escaped = symbol.replace("'", "''")
        rows = (table.search().where(f"symbol = '{escaped}' OR aliases LIKE '%{escaped}%'")
                .select(self._COLUMNS).limit(50).to_list())
        hits = self._rows_to_hits(rows, "_score", higher_is_better=True)
        return sorted((h for h in hits if symbol in h.names()), key=lambda h: (h.symbol != symbol, h.part))
