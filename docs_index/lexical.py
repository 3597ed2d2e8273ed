"""In-process BM25 over a table's rows: the full-text ranking of the query path.

A library table holds a few hundred chunks, so an inverted index in numpy answers a query in well
under a millisecond, where a LanceDB full-text query costs 3-5 ms of fixed overhead. LanceDB keeps
its own native FTS index on the same columns (``DocsIndex(fts_backend="lancedb")``).

Tokens are lower-cased words; identifiers are also split into their parts (``log_metric`` ->
``log_metric``, ``log``, ``metric``; ``MlflowClient`` -> ``mlflowclient``, ``mlflow``, ``client``)
and every word is reduced by a light suffix stemmer, so "minimizes" meets "minimize" and
"tracked" meets "track".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Sequence

import numpy as np

from .chunking import identifier_words

K1 = 1.2  # the usual BM25 constants (Robertson & Zaragoza 2009)
B = 0.75
STOPWORDS = frozenset(
    "a an and are as at be by can do does for from has have how i if in into is it its of on or so such that the "
    "then there these this to was were what when where which while with will you your my our we me".split()
)
_SUFFIXES = ("ations", "ation", "ings", "ing", "edly", "ed", "ers", "er", "ies", "es", "s", "ly", "e")


def stem(word: str) -> str:
    """A light suffix stemmer (no external dependency): good enough to conflate inflections."""
    if len(word) <= 3 or not word.isalpha():
        return word
    for suffix in _SUFFIXES:
        if suffix == "s" and word.endswith(("ss", "us", "is")):
            continue  # "loss", "status", "analysis" are not plurals
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
            break
    # "logging" -> "logg" -> "log", "stopped" -> "stopp" -> "stop" (but "call", "pass" stay).
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    tokens: list[str] = []
    for raw in re.findall(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+", text):
        whole = raw.strip("_").lower()
        if not whole:
            continue
        pieces = identifier_words(raw).lower().split() if not raw.isdigit() else [raw]
        if len(pieces) > 1:
            tokens.append(whole)  # the exact identifier: a code query naming it should find it first
        tokens.extend(stem(p) for p in pieces if p not in STOPWORDS)
    return tokens


# Query expansion: words a user writes for a task -> the words the APIs of these libraries use
# for it (a small domain thesaurus, applied to the query only, at half weight). Written from the
# libraries' vocabulary (MLflow logs "params", Optuna "suggests" "categorical" choices, DVC
# "pushes" to a "remote"), not from the labelled queries' answers.
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("log", "record", "track"),
    ("param", "parameter", "hyperparameter", "config"),
    ("create", "make", "new", "start", "init", "initialize", "initialise", "setup"),
    ("finish", "end", "close", "complete"),
    ("metric", "loss", "accuracy", "score"),
    ("upload", "push", "send"),
    ("download", "pull", "fetch"),
    ("remove", "delete", "drop"),
    ("remote", "storage"),
    ("choose", "choice", "categorical", "option", "select"),
    ("minimize", "maximize", "direction", "optimize"),
    ("uri", "backend", "store", "database", "server", "sqlite"),
    ("register", "registry", "version"),
    ("prune", "sparsity", "zero", "mask"),
    ("statistic", "stat", "report", "summary"),
    ("callback", "hook"),
    ("epoch", "step", "iteration"),
    ("model", "network", "net"),
)
EXPANSION_WEIGHT = 0.5


def _build_synonyms() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for group in SYNONYM_GROUPS:
        stems = tuple(dict.fromkeys(stem(word) for word in group))
        for word in stems:
            table[word] = tuple(other for other in stems if other != word)
    return table


SYNONYMS = _build_synonyms()


def expand(terms: Sequence[str]) -> list[str]:
    """The thesaurus neighbours of ``terms`` that are not in ``terms`` already."""
    present = set(terms)
    extra = (other for term in terms for other in SYNONYMS.get(term, ()))
    return [term for term in dict.fromkeys(extra) if term not in present]


class BM25Field:
    """One field's inverted index: term -> (row ids, term frequencies)."""

    def __init__(self, documents: Sequence[str]) -> None:
        self.size = len(documents)
        lengths = np.zeros(self.size, dtype=np.float32)
        postings: dict[str, tuple[list[int], list[int]]] = {}
        for row, text in enumerate(documents):
            counts = Counter(tokenize(text))
            lengths[row] = sum(counts.values())
            for term, count in counts.items():
                rows, freqs = postings.setdefault(term, ([], []))
                rows.append(row)
                freqs.append(count)
        average = float(lengths.mean()) if self.size else 1.0
        self.norm = (K1 * (1 - B + B * lengths / max(average, 1e-9))).astype(np.float32)
        self.postings = {term: (np.asarray(rows, dtype=np.int32), np.asarray(freqs, dtype=np.float32))
                         for term, (rows, freqs) in postings.items()}
        # BM25's IDF with the +1 inside the log (never negative, as in Lucene).
        self.idf = {term: math.log(1 + (self.size - len(rows) + 0.5) / (len(rows) + 0.5))
                    for term, (rows, _) in self.postings.items()}

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        total = np.zeros(self.size, dtype=np.float32)
        for term in terms:
            posting = self.postings.get(term)
            if posting is None:
                continue
            rows, freqs = posting
            total[rows] += self.idf[term] * freqs * (K1 + 1) / (freqs + self.norm[rows])
        return total


class BM25Index:
    """BM25 summed over fields (full text and the symbol's name words, like a multi-field match)."""

    def __init__(self, fields: Sequence[Sequence[str]], boosts: Sequence[float] | None = None,
                 expansion_weight: float = EXPANSION_WEIGHT) -> None:
        self.fields = [BM25Field(documents) for documents in fields]
        self.boosts = list(boosts) if boosts else [1.0] * len(self.fields)
        self.expansion_weight = expansion_weight

    def scores(self, query: str) -> np.ndarray:
        terms = list(dict.fromkeys(tokenize(query)))
        extra = expand(terms) if self.expansion_weight else []
        total = np.zeros(self.fields[0].size if self.fields else 0, dtype=np.float32)
        for field, boost in zip(self.fields, self.boosts):
            total += boost * field.scores(terms)
            if extra:
                total += boost * self.expansion_weight * field.scores(extra)
        return total
