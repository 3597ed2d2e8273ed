"""Command line: ``mlops-lsp serve | adapt | bench | index``.

Bad usage or input exits 2 with one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import sys
from pathlib import Path

from . import __version__

EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(EXIT_USAGE, f"mlops-lsp: error: {message}\n")


def _tcp_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return value


def _build_parser() -> _Parser:
    from .actions import registry

    parser = _Parser(prog="mlops-lsp", description="Adapt ML training code to MLOps libraries.")
    parser.add_argument("--version", action="version", version=f"mlops-lsp {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", type=_tcp_address, help="listen on TCP instead of stdio")

    adapt = commands.add_parser("adapt", help="apply one action to a file; prints a diff (or the file with -o -)")
    adapt.add_argument("file", type=Path)
    adapt.add_argument("--action", required=True, choices=list(registry()), metavar="ID",
                       help=f"one of: {', '.join(registry())}")
    adapt.add_argument("--strategy", choices=["codemod", "llm", "auto"], default="codemod")
    adapt.add_argument("--model", metavar="SPEC", help="e.g. llama-cpp:/path/model.gguf or openai:gpt-4o-mini")
    adapt.add_argument("--retrieval", choices=["none", "docprompt", "docs-search", "llm-search", "llm-docs-search"],
                       default="docprompt", help="documentation retrieval for the model's prompt (default: docprompt)")
    adapt.add_argument("--edit-format", choices=["auto", "region", "search-replace", "whole", "hunks"], default="auto",
                       help="what the model writes back: the region around the training code (small models), "
                            "the statements a translation rewrites, a group at a time (small models), "
                            "SEARCH/REPLACE blocks (strong models) or the whole file (default: auto)")
    adapt.add_argument("--temperature", type=float, default=0.2)
    adapt.add_argument("--seed", type=int, default=0)
    adapt.add_argument("-o", "--output", metavar="OUT", type=Path,
                       help="write the adapted file to OUT ('-' for stdout) instead of printing a diff")

    bench = commands.add_parser("bench", help="run the benchmark over a dataset")
    from .bench import cli as bench_cli

    bench_cli.add_arguments(bench)

    from .docs_index import cli as index_cli

    index_cli.add_arguments(commands)
    return parser


def _adapt(args: argparse.Namespace) -> int:
    from .core import adapt
    from .options import Options

    try:
        raw = args.file.read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror or exc}")
    try:
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _fail(f"{args.file} is not UTF-8 text (byte {exc.start})")
    options = Options(strategy=args.strategy, model=args.model, retrieval=args.retrieval, edit_format=args.edit_format,
                      temperature=args.temperature, seed=args.seed)
    result = adapt(source, args.action, options, filename=str(args.file))
    print(f"mlops-lsp: {args.file}: {result.message}", file=sys.stderr)
    if not result.ok:
        return 0 if result.status == "unchanged" else EXIT_USAGE
    if args.output is None:
        name = str(args.file)
        sys.stdout.writelines(
            difflib.unified_diff(source.splitlines(True), result.source.splitlines(True), f"a/{name}", f"b/{name}")
        )
    elif str(args.output) == "-":
        sys.stdout.write(result.source)
    else:
        try:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                out.write(result.source)
        except OSError as exc:
            return _fail(f"cannot write {args.output}: {exc.strerror or exc}")
    return 0


def _fail(message: str) -> int:
    print(f"mlops-lsp: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "serve":
            from .lsp import serve

            serve(args.tcp)
            return 0
        if args.command == "adapt":
            return _adapt(args)
        if args.command == "bench":
            from .bench import cli as bench_cli

            return bench_cli.run(args)
        if args.command == "index":
            from .docs_index import cli as index_cli

            return index_cli.run(args)
    except KeyboardInterrupt:
        return 130
    return _fail(f"unknown command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
