"""Retrieval quality on a labelled set: recall@k and MRR per search mode and per strategy.

Definitions (stated because "recall" is used loosely in retrieval papers):
- search modes: each query lists the symbols that answer it (alternatives). ``recall@k`` is the
  fraction of queries with at least one answering symbol in the top k (success@k); ``MRR`` is
  the mean of 1/rank of the first answering symbol (0 when none in the top k).
- strategies: each case lists the needed symbols (each need is a group of alternatives).
  ``recall@k`` is the fraction of needs covered by the k retrieved chunks, averaged over cases;
  ``MRR`` is over the first chunk that covers any need.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .retrieval import Complete, retrieve
from .store import SEARCH_MODES, DocsIndex, SearchHit


@dataclass
class Score:
    name: str
    recall: float
    mrr: float
    n: int
    misses: list[str]


def load_set(path: Path | str) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


def _rank_of_first(hits: Sequence[SearchHit], relevant: set[str]) -> int | None:
    for rank, hit in enumerate(hits, start=1):
        if relevant.intersection(hit.names()):
            return rank
    return None


def evaluate_modes(index: DocsIndex, queries: Sequence[dict[str, Any]], k: int = 5,
                   modes: Sequence[str] = SEARCH_MODES) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    for mode in modes:
        found, reciprocal, misses = 0, 0.0, []
        for item in queries:
            hits = index.search(item["query"], item["library"], k=k, mode=mode)
            rank = _rank_of_first(hits, set(item["relevant"]))
            if rank is None:
                misses.append(item["id"])
            else:
                found += 1
                reciprocal += 1.0 / rank
        scores[mode] = Score(mode, found / len(queries), reciprocal / len(queries), len(queries), misses)
    return scores


def evaluate_strategies(index: DocsIndex, cases: Sequence[dict[str, Any]], strategies: Sequence[str],
                        k: int = 5, complete: Complete | None = None) -> dict[str, Score]:
    scores: dict[str, Score] = {}
    for strategy in strategies:
        recalls, reciprocal, misses = [], [], []
        for case in cases:
            context = retrieve(index, strategy, case["action"], case["code"], k=k, budget_tokens=100_000,
                               complete=complete, framework=case.get("framework"))
            hits = context.chunks[:k]
            needs = [set(group) for group in case["needed"]]
            covered = sum(1 for need in needs if any(need.intersection(h.names()) for h in hits))
            recalls.append(covered / len(needs))
            rank = _rank_of_first(hits, set().union(*needs))
            reciprocal.append(0.0 if rank is None else 1.0 / rank)
            if covered < len(needs):
                missing = [sorted(need)[0] for need in needs if not any(need.intersection(h.names()) for h in hits)]
                misses.append(f"{case['id']}: {', '.join(missing)}")
        scores[strategy] = Score(strategy, statistics.fmean(recalls), statistics.fmean(reciprocal), len(cases), misses)
    return scores


def format_scores(title: str, scores: dict[str, Score], k: int) -> str:
    lines = [title, f"{'name':<18} {'n':>3} {f'recall@{k}':>9} {'MRR':>6}"]
    for score in scores.values():
        lines.append(f"{score.name:<18} {score.n:>3} {score.recall:>9.3f} {score.mrr:>6.3f}")
        if score.misses:
            lines.append(f"{'':<18} misses: {'; '.join(score.misses)}")
    return "\n".join(lines)
