"""The benchmark's two phases over an output directory that makes runs resumable.

Layout of OUT:

    config.json                               what the results depend on (checked on resume)
    generated/<case>/<action>/t<T>-s<S>.py    the adapted source (absent when generation failed)
    generated/<case>/<action>/t<T>-s<S>.json  its generation metadata: engine, tokens, seconds, error
    samples/<case>/<action>/t<T>-s<S>.json    the sample's result (its presence means "done")
    cache/                                    the runner's cache (original-script baselines)
    server.log                                the language server's stderr and messages
    results.json, report.md                   rewritten at the end of every run

GENERATION produces every missing generated file; EXECUTION runs every sample without a result,
``jobs`` at a time in worker processes. A sample whose result exists is neither regenerated nor rerun.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import importlib
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from .. import __version__
from ..actions import registry
from . import report
from .dataset import Case, DatasetError, dataset_hash, load_dataset
from .generate import FILE_STRATEGIES, LSP_STRATEGIES, Generation, LspGenerator, ServerFailure, from_files
from .progress import Progress

STRATEGIES = LSP_STRATEGIES + FILE_STRATEGIES
RETRIEVALS = ("none", "docprompt", "docs-search", "llm-search", "llm-docs-search")

# Keys of config.json that make results incomparable when they differ.
IDENTITY_KEYS = ("dataset_hash", "strategy", "model", "retrieval", "seed")

# Distributions whose versions the results record (read from metadata, never imported).
LIBRARIES = (
    "torch", "lightning", "keras", "scikit-learn", "mlflow", "wandb", "optuna", "nncf", "dvc", "GitPython",
    "pygls", "lsprotocol", "libcst",
)


class BenchError(Exception):
    """Bad usage or input: reported as one line, exit status 2."""


class BenchFailure(Exception):
    """The bench's own machinery failed (server crash, runner crash): one line, exit status 1."""


@dataclass(frozen=True)
class BenchOptions:
    dataset: Path
    actions: tuple[str, ...] | None
    cases: tuple[str, ...] | None
    strategy: str
    model: str | None
    retrieval: str
    temperatures: tuple[float, ...]
    samples: int
    ks: tuple[int, ...]
    jobs: int
    seed: int
    out: Path | None


@dataclass(frozen=True)
class SampleKey:
    case: Case
    action: str
    temperature: float
    sample: int

    @property
    def stem(self) -> str:
        return f"t{self.temperature:g}-s{self.sample}"

    @property
    def label(self) -> str:
        return f"{self.case.id}/{self.action}/{self.stem}"


class OutputDir:
    def __init__(self, root: Path):
        self.root = root
        self.config = root / "config.json"
        self.cache = root / "cache"
        self.server_log = root / "server.log"
        self.results = root / "results.json"
        self.report = root / "report.md"

    def generated_source(self, key: SampleKey) -> Path:
        return self.root / "generated" / key.case.id / key.action / f"{key.stem}.py"

    def generated_meta(self, key: SampleKey) -> Path:
        return self.root / "generated" / key.case.id / key.action / f"{key.stem}.json"

    def result(self, key: SampleKey) -> Path:
        return self.root / "samples" / key.case.id / key.action / f"{key.stem}.json"


def write_atomically(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so an interrupted run never leaves a half file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def write_json(path: Path, data: Any) -> None:
    write_atomically(path, json.dumps(data, indent=2, sort_keys=False) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------- configuration


def git_commit() -> str | None:
    """HEAD of the repository this package is run from (editable install), else None."""
    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def identity_hash(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]


def prepare_output(out: Path, identity: dict[str, Any]) -> OutputDir:
    """Create OUT or check that its existing results were produced by the same configuration."""
    output = OutputDir(out)
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out {out} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        if not output.config.is_file():
            raise BenchError(f"--out {out} is not empty and holds no bench config.json; choose another directory")
        try:
            previous = read_json(output.config)
        except (OSError, json.JSONDecodeError) as exc:
            raise BenchError(f"--out {out}: unreadable config.json ({exc}); choose another directory") from None
        differing = [key for key in IDENTITY_KEYS if previous.get(key) != identity[key]]
        if differing:
            key = differing[0]
            raise BenchError(
                f"--out {out} holds results of another configuration ({key}: {previous.get(key)!r} there, "
                f"{identity[key]!r} now); choose another --out"
            )
        return output
    out.mkdir(parents=True, exist_ok=True)
    write_json(output.config, identity)
    return output


# ---------------------------------------------------------------- planning


def select_cases(options: BenchOptions) -> tuple[list[Case], str]:
    try:
        cases = load_dataset(options.dataset)
    except DatasetError as exc:
        raise BenchError(str(exc).splitlines()[0]) from None
    digest = dataset_hash(cases)
    known_actions = registry()
    for action_id in options.actions or ():
        if action_id not in known_actions:
            raise BenchError(f"unknown action {action_id!r}; known: {', '.join(known_actions)}")
    if options.cases:
        by_id = {case.id: case for case in cases}
        missing = [case_id for case_id in options.cases if case_id not in by_id]
        if missing:
            raise BenchError(f"unknown case {missing[0]!r} in dataset {options.dataset}")
        cases = [by_id[case_id] for case_id in dict.fromkeys(options.cases)]
    return cases, digest


def plan(cases: list[Case], options: BenchOptions) -> tuple[list[SampleKey], list[dict[str, str]]]:
    """Every sample to score, and the (case, action) pairs skipped (gold strategy without a gold)."""
    keys: list[SampleKey] = []
    skipped: list[dict[str, str]] = []
    wanted = set(options.actions) if options.actions else None
    for case in cases:
        for action_id in case.actions:
            if wanted is not None and action_id not in wanted:
                continue
            if options.strategy == "gold" and case.gold(action_id) is None:
                skipped.append({"case": case.id, "action": action_id, "reason": "no gold"})
                continue
            for temperature in options.temperatures:
                for sample in range(options.samples):
                    keys.append(SampleKey(case, action_id, temperature, sample))
    return keys, skipped


# ---------------------------------------------------------------- generation


def save_generation(output: OutputDir, key: SampleKey, generation: Generation, seed: int) -> None:
    source_path = output.generated_source(key)
    if generation.source is not None:
        write_atomically(source_path, generation.source)
    elif source_path.exists():
        source_path.unlink()  # a stale source from an earlier attempt must not be run
    meta = generation.metadata() | {"temperature": key.temperature, "sample": key.sample, "seed": seed}
    write_json(output.generated_meta(key), meta)


def server_settings(options: BenchOptions, temperature: float, seed: int) -> dict[str, Any]:
    return {
        "strategy": options.strategy,
        "model": options.model,
        "retrieval": options.retrieval,
        "temperature": temperature,
        "seed": seed,
    }


async def _generate_with_server(
    keys: list[SampleKey], options: BenchOptions, output: OutputDir, progress: Progress
) -> None:
    """One server per (temperature, seed), both being initializationOptions of the server; it is
    reused for every document sharing them (all documents for the default single temperature and
    n=1). A server that crashed or hung on a document is replaced by a fresh one for the rest."""
    groups: dict[tuple[float, int], list[SampleKey]] = {}
    for key in keys:
        groups.setdefault((key.temperature, options.seed + key.sample), []).append(key)
    for (temperature, seed), group in groups.items():
        by_case: dict[str, list[SampleKey]] = {}
        for key in group:
            by_case.setdefault(key.case.id, []).append(key)
        pending = deque(by_case.values())
        while pending:
            async with LspGenerator(server_settings(options, temperature, seed), output.server_log) as generator:
                while pending and generator.healthy:
                    case_keys = pending.popleft()
                    generations = await generator.generate(case_keys[0].case, [key.action for key in case_keys])
                    untried = [key for key in case_keys if key.action not in generations]
                    for key in case_keys:
                        if key.action in generations:
                            generation = generations[key.action]
                            save_generation(output, key, generation, seed)
                            progress.advance(key.label, failed=generation.source is None)
                    if untried:
                        pending.appendleft(untried)


def generation_phase(keys: list[SampleKey], options: BenchOptions, output: OutputDir) -> int:
    """Generate every sample that has neither a result nor a generated file; returns how many."""
    todo = [k for k in keys if not output.result(k).exists() and not output.generated_meta(k).exists()]
    progress = Progress("generate", len(todo))
    try:
        if options.strategy in FILE_STRATEGIES:
            for key in todo:
                generation = from_files(key.case, key.action, options.strategy)
                assert generation is not None, "plan() skips cases without a gold"
                save_generation(output, key, generation, options.seed + key.sample)
                progress.advance(key.label)
        elif todo:
            try:
                asyncio.run(_generate_with_server(todo, options, output, progress))
            except ServerFailure as exc:
                # Only a server that cannot start at all ends the bench; crashes on a document are samples' failures.
                raise BenchFailure(f"{exc}; completed samples are kept, rerun to resume") from None
    finally:
        progress.close(f"{progress.failed} without a source" if progress.failed else "")
    return len(todo)


# ---------------------------------------------------------------- execution


def execute_sample(case: Case, action_id: str, source: str, cache_dir: str) -> dict[str, Any]:
    """Worker-process entry point: run one adapted source in the sandbox and check its effect."""
    from .runner import run_sample

    run = run_sample(case, action_id, source, cache_dir=Path(cache_dir))
    return {
        "passed": bool(run.passed),
        "checks": {name: bool(ok) for name, ok in run.checks.items()},
        "reasons": {name: str(reason) for name, reason in run.reasons.items()},
        "error": run.error,
        "seconds": round(float(run.seconds), 3),
        "exit_code": getattr(run, "exit_code", None),
        "timed_out": bool(getattr(run, "timed_out", False)),
        "logs": {"stdout_tail": getattr(run, "stdout_tail", ""), "stderr_tail": getattr(run, "stderr_tail", "")},
    }


def sample_record(key: SampleKey, strategy: str, meta: dict[str, Any], outcome: dict[str, Any]) -> dict[str, Any]:
    return {
        "case": key.case.id,
        "action": key.action,
        "framework": key.case.framework,
        "strategy": strategy,
        "temperature": key.temperature,
        "sample": key.sample,
        "passed": outcome["passed"],
        "checks": outcome["checks"],
        "reasons": outcome["reasons"],
        "error": outcome["error"],
        "seconds": outcome["seconds"],
        "exit_code": outcome.get("exit_code"),
        "timed_out": outcome.get("timed_out", False),
        "tokens": meta.get("tokens") or {"prompt": 0, "completion": 0},
        "engine": meta.get("engine"),
        "generation_seconds": meta.get("seconds", 0.0),
        "generation_error": meta.get("error"),
        # Output tails stay in the per-sample file; results.json leaves them out to stay readable.
        "logs": outcome.get("logs") or {},
    }


def execution_phase(keys: list[SampleKey], options: BenchOptions, output: OutputDir, log: TextIO) -> tuple[int, int]:
    """Score every sample without a result; returns (samples run in the sandbox, runner crashes)."""
    todo = [k for k in keys if not output.result(k).exists()]
    runnable: list[tuple[SampleKey, dict[str, Any], str]] = []
    progress = Progress("execute", len(todo))
    for key in todo:
        meta = read_json(output.generated_meta(key))
        source_path = output.generated_source(key)
        if source_path.is_file():
            runnable.append((key, meta, source_path.read_text(encoding="utf-8")))
            continue
        # Generation failed: the sample fails without running, with the generation's reason.
        outcome = {"passed": False, "checks": {}, "reasons": {}, "error": meta.get("error") or "no source", "seconds": 0.0}
        write_json(output.result(key), sample_record(key, options.strategy, meta, outcome))
        progress.advance(key.label, failed=True)
    crashes = 0
    if runnable:
        # The runner itself is needed now; fail early and clearly if it is missing.
        try:
            importlib.import_module(f"{__package__}.runner")
        except ImportError as exc:
            progress.close()
            raise BenchFailure(f"the sandbox runner is not available: {exc}") from None
        output.cache.mkdir(parents=True, exist_ok=True)
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(max_workers=options.jobs, mp_context=context) as pool:
            futures = {
                pool.submit(execute_sample, key.case, key.action, source, str(output.cache)): (key, meta)
                for key, meta, source in runnable
            }
            try:
                for future in concurrent.futures.as_completed(futures):
                    key, meta = futures[future]
                    try:
                        outcome = future.result()
                    except Exception as exc:  # the runner's own bug: report it, keep no result, so a rerun retries
                        crashes += 1
                        log.write(f"\nrunner crashed on {key.label}: {type(exc).__name__}: {exc}\n")
                        progress.advance(key.label, failed=True)
                        continue
                    write_json(output.result(key), sample_record(key, options.strategy, meta, outcome))
                    progress.advance(key.label, failed=not outcome["passed"])
            except KeyboardInterrupt:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
    progress.close(f"{progress.failed} failed" if todo else "")
    return len(runnable), crashes


# ---------------------------------------------------------------- the whole run


def default_out(identity: dict[str, Any]) -> Path:
    return Path("bench-results") / f"{identity['strategy']}-{identity_hash(identity)}"


def run_bench(options: BenchOptions, log: TextIO = sys.stderr) -> Path:
    """Run (or resume) the benchmark; returns the output directory. Raises BenchError/BenchFailure."""
    cases, digest = select_cases(options)
    keys, skipped = plan(cases, options)
    if not keys:
        raise BenchError("nothing to run: no (case, action) pair matches the selection" +
                         (" (gold strategy: no case has a gold for it)" if skipped else ""))
    identity = {
        "dataset_hash": digest,
        "strategy": options.strategy,
        "model": options.model,
        "retrieval": options.retrieval,
        "seed": options.seed,
    }
    out = options.out if options.out is not None else default_out(identity)
    output = prepare_output(out, identity)
    for item in skipped:
        log.write(f"skipped {item['case']}/{item['action']}: {item['reason']}\n")
    log.write(f"bench: {len(keys)} samples ({options.strategy}) -> {out}\n")
    started = time.monotonic()
    generated = generation_phase(keys, options, output)
    already_done = sum(1 for k in keys if output.result(k).exists())
    executed, crashes = execution_phase(keys, options, output, log)
    samples = [read_json(output.result(k)) for k in keys if output.result(k).exists()]
    config = results_config(options, out, digest, skipped)
    stats = {
        "planned": len(keys),
        "generated": generated,
        "executed": executed,
        "reused": already_done,
        "runner_crashes": crashes,
        "seconds": round(time.monotonic() - started, 1),
    }
    results = report.build_results(config, samples, options.ks, stats)
    write_json(output.results, results)
    write_atomically(output.report, report.render_report(results))
    log.write(f"bench: results in {output.results}, report in {output.report}\n")
    log.write(report.summary_line(results) + "\n")
    if crashes:
        raise BenchFailure(f"{crashes} sample(s) crashed in the runner (see above); rerun to retry them")
    return out


def results_config(options: BenchOptions, out: Path, digest: str, skipped: Iterable[dict[str, str]]) -> dict[str, Any]:
    return {
        "dataset": str(options.dataset.resolve()),
        "dataset_hash": digest,
        "actions": list(options.actions) if options.actions else None,
        "cases": list(options.cases) if options.cases else None,
        "strategy": options.strategy,
        "model": options.model,
        "retrieval": options.retrieval,
        "temperatures": list(options.temperatures),
        "samples": options.samples,
        "k": list(options.ks),
        "jobs": options.jobs,
        "seed": options.seed,
        "sample_seeds": "seed + sample index",
        "out": str(out.resolve()),
        "git_commit": git_commit(),
        "mlops_lsp_version": __version__,
        "python": platform.python_version(),
        "libraries": library_versions(),
        "skipped": list(skipped),
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
