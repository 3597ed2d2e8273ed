"""`mlops-lsp bench`: arguments and entry point (wired into the main CLI as a subcommand).

Exit status: 0 when the bench ran (even if samples failed), 2 on bad usage or input, 1 when the
bench's own machinery failed (language server or runner crash; completed samples are kept), 130 on
Ctrl-C. Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from .dataset import BUNDLED
from .orchestrate import RETRIEVALS, STRATEGIES, BenchError, BenchFailure, BenchOptions, run_bench

PROG = "mlops-lsp bench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", type=Path, default=None, metavar="DIR",
                        help=f"dataset directory (default: the bundled dataset, {BUNDLED})")
    parser.add_argument("--actions", nargs="+", metavar="ID", help="only these action ids (default: every action of every case)")
    parser.add_argument("--cases", nargs="+", metavar="ID", help="only these case ids (default: every case)")
    parser.add_argument("--strategy", choices=STRATEGIES, default="codemod",
                        help="engine of the language server (codemod, llm, auto), or checker validation: "
                             "gold (the case's gold adaptation) or identity (the original script) (default: codemod)")
    parser.add_argument("--model", metavar="SPEC", default=None,
                        help="model for llm/auto, e.g. llama-cpp:/path/model.gguf or openai:gpt-4o-mini")
    parser.add_argument("--retrieval", choices=RETRIEVALS, default="docprompt",
                        help="documentation retrieval for the llm engine (default: docprompt)")
    parser.add_argument("--temperature", type=float, nargs="+", default=[0.2], metavar="T",
                        help="sampling temperature(s); each is scored separately (default: 0.2)")
    parser.add_argument("-n", "--samples", type=int, default=1, metavar="SAMPLES",
                        help="samples per (case, action, temperature) (default: 1)")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 3], metavar="K",
                        help="pass@k to report; k > SAMPLES is not reported (default: 1 3)")
    parser.add_argument("--jobs", type=int, default=1, metavar="J", help="samples executed in parallel (default: 1)")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="base seed; sample i uses S + i (default: 0)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="output directory; rerunning with the same DIR resumes "
                             "(default: bench-results/<strategy>-<config hash>)")


def options_from(args: argparse.Namespace) -> BenchOptions:
    """Check values argparse cannot; raises BenchError."""
    if args.samples < 1:
        raise BenchError(f"-n must be at least 1, not {args.samples}")
    if any(k < 1 for k in args.k):
        raise BenchError(f"--k values must be at least 1, not {min(args.k)}")
    if args.jobs < 1:
        raise BenchError(f"--jobs must be at least 1, not {args.jobs}")
    if any(t < 0 for t in args.temperature):
        raise BenchError(f"--temperature must not be negative, not {min(args.temperature)}")
    check_model(args.strategy, args.model)
    return BenchOptions(
        dataset=args.dataset if args.dataset is not None else BUNDLED,
        actions=tuple(dict.fromkeys(args.actions)) if args.actions else None,
        cases=tuple(dict.fromkeys(args.cases)) if args.cases else None,
        strategy=args.strategy,
        model=args.model,
        retrieval=args.retrieval,
        temperatures=tuple(dict.fromkeys(args.temperature)),
        samples=args.samples,
        ks=tuple(sorted(set(args.k))),
        jobs=args.jobs,
        seed=args.seed,
        out=args.out,
    )


def check_model(strategy: str, model: str | None) -> None:
    """``llm`` needs a model; a malformed SPEC is bad usage, found before any server starts.
    (Whether the model loads is each sample's business: its failure is the sample's error.)"""
    if strategy == "llm" and not model:
        raise BenchError("--strategy llm needs --model SPEC, e.g. llama-cpp:/path/model.gguf "
                         "or openai-compatible:http://127.0.0.1:8000/v1#qwen")
    if model is None:
        return
    from ..models import ModelError, parse_spec  # imports no model library

    try:
        parse_spec(model)
    except ModelError as exc:
        raise BenchError(f"--model: {exc}") from None


def run(args: argparse.Namespace) -> int:
    try:
        run_bench(options_from(args))
    except BenchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except BenchFailure as exc:
        print(f"{PROG}: failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{PROG}: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return 0


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse prints the usage before its error; the CLI contract wants one line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineErrorParser(prog=PROG, description="Replay the MLOps actions over a dataset and score pass@k.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
