"""Documentation-index benchmark: build time, query latency, retrieval quality.

    python benchmarks/retrieval_bench.py                      # cold build in a fresh temp dir, then measure
    python benchmarks/retrieval_bench.py --index-dir DIR      # reuse/ensure an index in DIR (no forced build)
    python benchmarks/retrieval_bench.py --json-out out.json

Reports
- build: wall seconds and CPU seconds (this process + extraction subprocesses) for all libraries,
  with the load average, because the machine is shared;
- latency: p50/p95 per search mode over the labelled queries with a warm embedder, end to end
  (query embedding included) and search only (vector given), plus the embedding alone;
- quality: recall@k and MRR per search mode and per retrieval strategy on
  tests/docs_index/retrieval_set.json (llm-* strategies need a model and are skipped here).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SET = ROOT / "tests" / "docs_index" / "retrieval_set.json"


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _timed(calls: list[Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Wall-clock and CPU (all threads of this process) milliseconds per call. On a shared,
    overloaded machine the wall clock mostly measures waiting for a core; CPU time shows the cost."""
    wall, cpu = [], []
    for _ in range(rounds):
        for call in calls:
            start, start_cpu = time.perf_counter(), time.process_time()
            call()
            wall.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
    return {"p50_ms": _percentile(wall, 0.50), "p95_ms": _percentile(wall, 0.95),
            "cpu_p50_ms": _percentile(cpu, 0.50), "cpu_p95_ms": _percentile(cpu, 0.95),
            "mean_ms": statistics.fmean(wall), "n": len(wall)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, help="use this index dir (ensure only); default: cold build in a temp dir")
    parser.add_argument("--set", type=Path, default=DEFAULT_SET, help="labelled retrieval set")
    parser.add_argument("-k", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3, help="latency rounds over the labelled queries")
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args(argv)

    from mlops_lsp.docs_index.evaluation import evaluate_modes, evaluate_strategies, format_scores, load_set
    from mlops_lsp.docs_index.libraries import LIBRARIES
    from mlops_lsp.docs_index.store import SEARCH_MODES, DocsIndex

    results: dict[str, Any] = {"loadavg_start": os.getloadavg(), "cpus": os.cpu_count()}
    temp = None
    if args.index_dir is None:
        temp = tempfile.TemporaryDirectory(prefix="mlops-lsp-bench-index-")
        index_dir = Path(temp.name)
    else:
        index_dir = args.index_dir
    index = DocsIndex(cache_dir=index_dir)

    # -- build --------------------------------------------------------------------------------
    wall, cpu = time.perf_counter(), _cpu_seconds()
    reports = index.build() if temp is not None else index.ensure(LIBRARIES)
    results["build"] = {
        "cold": temp is not None,
        "wall_s": time.perf_counter() - wall,
        "cpu_s": _cpu_seconds() - cpu,
        "loadavg_after": os.getloadavg(),
        "chunks": sum(r.chunks for r in reports),
        "libraries": [{"library": r.library, "version": r.version, "chunks": r.chunks,
                       "extract_s": round(r.extract_seconds, 2), "embed_s": round(r.embed_seconds, 2),
                       "write_s": round(r.write_seconds, 2)} for r in reports],
    }
    print(f"build ({'cold' if temp else 'ensure'}): {results['build']['wall_s']:.1f} s wall, "
          f"{results['build']['cpu_s']:.1f} s CPU, {results['build']['chunks']} chunks, "
          f"load avg {results['loadavg_start'][0]:.1f} -> {results['build']['loadavg_after'][0]:.1f}")
    for row in results["build"]["libraries"]:
        print(f"  {row['library']:<12} {row['version']:<12} {row['chunks']:>4} chunks  extract {row['extract_s']:>6.1f}s"
              f"  embed {row['embed_s']:>5.1f}s  write {row['write_s']:>4.1f}s")

    labelled = load_set(args.set)
    queries = labelled["queries"]

    # -- latency (warm) -------------------------------------------------------------------------
    embedder = index.embedder
    embedder.embed(["warm up the embedder"])
    for library in LIBRARIES:  # open every table once (first open reads the manifest)
        index.search("warm up", library, k=args.k)
    vectors = {q["id"]: embedder.embed([q["query"]])[0] for q in queries}
    latency: dict[str, Any] = {"embed_only": _timed([lambda q=q: embedder.embed([q["query"]]) for q in queries],
                                                    args.rounds)}

    def uncached_search(query: dict[str, Any], mode: str) -> None:
        index.clear_query_cache()  # measure the embedding every time, not the memo
        index.search(query["query"], query["library"], k=args.k, mode=mode)

    for backend in ("lancedb", "memory"):
        index.vector_backend = backend  # "memory": vectors read once from the tables, scanned in numpy
        suffix = "" if backend == "lancedb" else " [mem]"
        for library in LIBRARIES:  # load the in-memory views before timing
            index.search("warm up", library, k=args.k, mode="vector")
        for mode in SEARCH_MODES:
            if backend == "memory" and mode == "fts":
                continue  # full-text search always runs in LanceDB
            latency[f"{mode}_end_to_end{suffix}"] = _timed(
                [lambda q=q, m=mode: uncached_search(q, m) for q in queries], args.rounds)
            latency[f"{mode}_search_only{suffix}"] = _timed(
                [lambda q=q, m=mode: index.search(q["query"], q["library"], k=args.k, mode=m,
                                                  vector=vectors[q["id"]]) for q in queries], args.rounds)
    index.vector_backend = "lancedb"
    results["latency"] = latency
    results["loadavg_after_latency"] = os.getloadavg()
    print(f"\nlatency (warm embedder, {len(queries)} queries x {args.rounds} rounds, "
          f"load avg {results['loadavg_after_latency'][0]:.1f}):")
    for name, stats in latency.items():
        print(f"  {name:<28} wall p50 {stats['p50_ms']:7.2f} ms  p95 {stats['p95_ms']:7.2f} ms   "
              f"cpu p50 {stats['cpu_p50_ms']:6.2f} ms  p95 {stats['cpu_p95_ms']:6.2f} ms")

    # -- quality ----------------------------------------------------------------------------------
    modes = evaluate_modes(index, queries, k=args.k)
    strategies = evaluate_strategies(index, labelled["strategies"], ["docprompt", "docs-search"], k=args.k)
    print()
    print(format_scores(f"search modes ({len(queries)} labelled queries)", modes, args.k))
    print()
    print(format_scores(f"strategies ({len(labelled['strategies'])} cases; llm-* need a model: not run)",
                        strategies, args.k))
    results["quality"] = {
        "modes": {name: {"recall": s.recall, "mrr": s.mrr, "n": s.n, "misses": s.misses} for name, s in modes.items()},
        "strategies": {name: {"recall": s.recall, "mrr": s.mrr, "n": s.n, "misses": s.misses}
                       for name, s in strategies.items()},
    }
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=1))
    if temp is not None:
        temp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
