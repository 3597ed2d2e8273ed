"""The study's retrieval strategies over the documentation index.

- ``docprompt``: the action's task guide + the top-k chunks of the action's target library for the
  action's intent (a few intent queries fused by reciprocal rank; the script's framework store is
  searched too when it has one, e.g. Lightning's ``MLFlowLogger``).
- ``docs-search``: code-X -> Docs-X (each library call of the code looked up in X's store) ->
  top-k in Y's store searched with each Docs-X chunk, fused. No model call.
- ``llm-search``: the model writes Docs-Y from code-X and Docs-X (one model call); the model's text
  is the context.
- ``llm-docs-search``: the model describes the Y functionality it needs (one line each), then each
  line is searched in Y's store and the rankings are fused.

``complete(prompt: str) -> str`` is the model hook for the two llm-* strategies. Context is cut to
``budget_tokens`` tokens (see :mod:`.tokens`).
"""

from __future__ import annotations

import ast
import dataclasses
import re
from typing import Callable, Sequence

from .guides import GUIDES
from .libraries import ACTION_SOURCES, ACTION_TARGETS, FRAMEWORK_LIBRARIES
from .store import DocsIndex, SearchHit, interleave
from .tokens import count_tokens, truncate_to_tokens

STRATEGIES = ("none", "docprompt", "docs-search", "llm-search", "llm-docs-search")
Complete = Callable[[str], str]

# What each action needs from its target library, as search queries (the "intent" of DocPrompting).
ACTION_INTENTS: dict[str, tuple[str, ...]] = {
    "tracking.mlflow": ("start an MLflow run and set the experiment", "log hyperparameters as params",
                        "log a metric value at a training step", "set the tracking URI of the store"),
    "registry.mlflow": ("log a PyTorch or scikit-learn model with a name", "register the model version in the registry",
                        "load a registered model version with pyfunc", "set the tracking URI of the store"),
    "tracking.wandb": ("initialise an offline W&B run with a config", "log metrics for a step",
                       "finish the run", "offline mode settings"),
    "hpo.optuna": ("create a study with a direction and storage", "optimize an objective for n trials",
                   "suggest a float or int hyperparameter in a trial", "best parameters of the study"),
    "pruning.nncf": ("prune a torch model with nncf.prune magnitude mode and ratio",
                     "pruning scheduler that increases sparsity every epoch", "pruning statistics of the model"),
    "pruning.torch": ("prune the smallest weights of a layer by L1 magnitude", "global unstructured pruning of several layers",
                      "make pruning permanent, remove the reparametrization", "check if a module is pruned"),
    "translate.gitpython-dvc": ("initialise a DVC repository", "track a data file with DVC add",
                                "configure a default DVC remote", "push tracked data to the remote"),
}
# Framework-store queries for inlining actions (the framework's own hook for the MLOps library).
FRAMEWORK_INTENTS: dict[tuple[str, str], tuple[str, ...]] = {
    ("lightning", "tracking.mlflow"): ("MLFlowLogger logger for the Trainer", "log a metric from the LightningModule"),
    ("lightning", "registry.mlflow"): ("MLFlowLogger logger for the Trainer",),
    ("lightning", "tracking.wandb"): ("WandbLogger logger for the Trainer offline", "log a metric from the LightningModule"),
    ("lightning", "pruning.torch"): ("ModelPruning callback prunes during training",),
    ("lightning", "hpo.optuna"): ("Trainer callback_metrics validation metric",),
    ("keras", "tracking.mlflow"): ("custom callback on_epoch_end logs",),
    ("keras", "tracking.wandb"): ("custom callback on_epoch_end logs",),
    ("keras", "hpo.optuna"): ("Model.fit returns History with validation loss",),
}


@dataclasses.dataclass
class RetrievedContext:
    strategy: str
    action: str
    chunks: list[SearchHit]
    text: str
    tokens: int
    queries: list[str]
    model_calls: int = 0


def _call_names(code: str) -> list[str]:
    """Dotted names of the calls in ``code`` in source order (``repo.index.add``), import aliases
    resolved (``from git import Repo`` makes ``Repo.init`` into ``git.Repo.init``)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return list(dict.fromkeys(re.findall(r"([A-Za-z_][\w.]*[A-Za-z_]\w*)\s*\(", code)))
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    names: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        parts: list[str] = []
        target = node.func
        while isinstance(target, ast.Attribute):
            parts.append(target.attr)
            target = target.value
        if isinstance(target, ast.Name):
            parts.append(aliases.get(target.id, target.id))
        elif isinstance(target, ast.Call):  # chained: git.Repo(path).index.add -> keep the chain's tail
            parts.append("")
        if parts:
            dotted = ".".join(reversed(parts)).strip(".")
            names.append((node.lineno, node.col_offset, dotted))
    return list(dict.fromkeys(name for _, _, name in sorted(names) if name))


def source_library(action: str, code: str, framework: str | None) -> str | None:
    """The library whose API the code already uses (X), if it has a store."""
    if action in ACTION_SOURCES:
        return ACTION_SOURCES[action]
    if framework in FRAMEWORK_LIBRARIES:
        return FRAMEWORK_LIBRARIES[framework]
    for pattern, library in ((r"^\s*(import|from)\s+(lightning|pytorch_lightning)\b", "lightning"),
                             (r"^\s*(import|from)\s+(keras|tensorflow\.keras)\b", "keras"),
                             (r"^\s*(import|from)\s+git\b", "gitpython")):
        if re.search(pattern, code, re.MULTILINE):
            return library
    return None


def _format(chunks: Sequence[SearchHit], budget_tokens: int, lead: str = "") -> tuple[str, int, list[SearchHit]]:
    """Render chunks (best first) into at most ``budget_tokens`` tokens; the last one may be cut."""
    pieces: list[str] = []
    used = 0
    kept: list[SearchHit] = []
    if lead:
        lead = truncate_to_tokens(lead, budget_tokens)
        pieces.append(lead)
        used += count_tokens(lead)
    for hit in chunks:
        block = f"### {hit.symbol}  [{hit.source}]\n{hit.text}"
        cost = count_tokens(block)
        remaining = budget_tokens - used
        if remaining <= 16:
            break
        if cost > remaining:
            block = truncate_to_tokens(block, remaining)
            cost = count_tokens(block)
        pieces.append(block)
        used += cost
        kept.append(hit)
    return "\n\n".join(pieces), used, kept


def docs_for_code(index: DocsIndex, library: str, code: str, per_call: int = 1, max_calls: int = 12) -> list[SearchHit]:
    """Docs-X: for each library call in ``code``, the chunk of ``library`` that documents it.

    Among the top hybrid hits for the call text, a chunk whose symbol ends with the called
    attribute (``...IndexFile.add`` for ``repo.index.add``) is preferred."""
    found: list[SearchHit] = []
    lines = code.splitlines()
    for name in _call_names(code)[: max_calls * 3]:
        last = name.rsplit(".", 1)[-1]
        line = next((ln.strip() for ln in lines if f"{last}(" in ln), name)
        hits = index.search(f"{name} {line}", library, k=8, mode="hybrid")
        exact = [h for h in hits if h.kind != "guide" and any(n.rsplit(".", 1)[-1] == last for n in h.names())]
        chosen = (exact or [])[:per_call]
        for hit in chosen:
            if all(hit.symbol != f.symbol for f in found):
                found.append(hit)
        if len(found) >= max_calls:
            break
    return found


def _search_many(index: DocsIndex, library: str, queries: Sequence[str], k: int,
                 skip: Sequence[str] = ()) -> list[SearchHit]:
    """One hybrid search per query (each query is one needed function), merged round-robin."""
    queries = [q for q in queries if q.strip()]
    vectors = index.query_vectors(queries)  # one embedding batch for all of them
    rankings = [[h for h in index.search(q, library, k=k + len(skip), mode="hybrid", vector=v) if h.symbol not in skip]
                for q, v in zip(queries, vectors)]
    return interleave(rankings, k)


def retrieve(
    index: DocsIndex,
    strategy: str,
    action: str,
    code: str,
    *,
    k: int = 5,
    budget_tokens: int = 1500,
    complete: Complete | None = None,
    framework: str | None = None,
) -> RetrievedContext:
    """Documentation context for adapting ``code`` with ``action`` using ``strategy``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown retrieval strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")
    if action not in ACTION_TARGETS:
        raise ValueError(f"unknown action {action!r}; known: {', '.join(sorted(ACTION_TARGETS))}")
    if strategy in {"llm-search", "llm-docs-search"} and complete is None:
        raise ValueError(f"retrieval strategy {strategy!r} needs a model: pass complete=")
    target = ACTION_TARGETS[action]
    if strategy == "none":
        return RetrievedContext(strategy, action, [], "", 0, [])
    if strategy == "docprompt":
        return _docprompt(index, action, code, target, k, budget_tokens, framework)
    source = source_library(action, code, framework)
    if source not in index.libraries:
        source = None
    docs_x = docs_for_code(index, source, code) if source else []
    if strategy == "docs-search":
        # Docs-X chunks are searched by their summary (symbol, parameters, opening paragraph): the
        # full text starts with a signature whose type noise would dominate the query embedding.
        # Inlining actions on plain PyTorch/sklearn code have no source store: the action's intents
        # stand in for Docs-X there.
        queries = [h.summary or h.text for h in docs_x] or list(ACTION_INTENTS.get(action, ())) or [code]
        hits = _search_many(index, target, queries, k)
        text, tokens, kept = _format(hits, budget_tokens)
        return RetrievedContext(strategy, action, kept, text, tokens, [q[:200] for q in queries])
    # In prompts Docs-X is given as summaries (symbol, parameters, opening paragraph): one long
    # docstring would otherwise eat the budget of all the other calls.
    brief = [dataclasses.replace(hit, text=hit.summary or hit.text) for hit in docs_x]
    docs_x_text, _, _ = _format(brief, max(budget_tokens // 2, 200))
    spec = index.spec(target)
    version = spec.version() or "installed"
    assert complete is not None
    if strategy == "llm-search":
        prompt = (
            f"Task: {GUIDES[action].splitlines()[0].lstrip('# ')}.\n"
            f"The code below uses {source or 'its framework'}; the documentation of the APIs it calls follows.\n\n"
            f"```python\n{truncate_to_tokens(code, budget_tokens)}\n```\n\n{docs_x_text}\n\n"
            f"Write the reference documentation (signature and a one-line description each) of the "
            f"{spec.description} {version} APIs needed to do the same task with {target}. Documentation only, no code."
        )
        generated = complete(prompt).strip()
        hit = SearchHit(library=target, symbol=f"llm-generated docs for {target}", kind="generated",
                        source="llm:generated", text=generated, score=1.0)
        text, tokens, kept = _format([hit], budget_tokens)
        return RetrievedContext(strategy, action, kept, text, tokens, [], model_calls=1)
    prompt = (
        f"Task: {GUIDES[action].splitlines()[0].lstrip('# ')}.\n\n"
        f"```python\n{truncate_to_tokens(code, budget_tokens)}\n```\n\n{docs_x_text}\n\n"
        f"List the {spec.description} ({target} {version}) functionality needed for this task, one short "
        f"description per line (for example 'log a metric at a training step'). No code, at most 8 lines."
    )
    answer = complete(prompt)
    queries = [re.sub(r"^\s*(?:[-*\d.)]+\s*)", "", line).strip() for line in answer.splitlines()]
    queries = [q for q in queries if len(q) > 3][:8] or [answer]
    hits = _search_many(index, target, queries, k)
    text, tokens, kept = _format(hits, budget_tokens)
    return RetrievedContext(strategy, action, kept, text, tokens, queries, model_calls=1)


def _docprompt(index: DocsIndex, action: str, code: str, target: str, k: int, budget_tokens: int,
               framework: str | None) -> RetrievedContext:
    queries = list(ACTION_INTENTS.get(action, ()))
    hits = _search_many(index, target, queries, k, skip=[f"guide:{action}"])
    source = source_library(action, code, framework)
    source = source if source in index.libraries else None
    framework_queries = FRAMEWORK_INTENTS.get((source or "", action), ())
    if source and framework_queries:
        extra = _search_many(index, source, framework_queries, 2)
        hits = hits[: max(k - len(extra), 1)] + extra
        queries += list(framework_queries)
    text, tokens, kept = _format(hits, budget_tokens, lead=GUIDES[action])
    return RetrievedContext("docprompt", action, kept, text, tokens, queries)
