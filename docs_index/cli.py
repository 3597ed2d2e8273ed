"""``mlops-lsp index build|search|status``.

Wiring (server/cli.py)::

    from mlops_lsp.docs_index import cli as index_cli
    index_cli.add_arguments(subparsers)          # adds the "index" command
    ...
    if args.command == "index": return index_cli.run(args)

Exit status: 0 on success, 2 on bad usage/input (one-line error on stderr), 1 when a build fails.
Results go to stdout, progress and logs to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Sequence

from typing import TYPE_CHECKING

from . import SEARCH_MODES
from .libraries import LIBRARIES

# The main CLI builds this parser in every process, the language server's included: the store
# (numpy, lancedb) is imported only when an index command runs.
if TYPE_CHECKING:
    from .store import BuildReport, SearchHit


def add_arguments(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> argparse.ArgumentParser:
    """Add the ``index`` command (with ``build``, ``search``, ``status``) to ``subparsers``."""
    index = subparsers.add_parser("index", help="build or search the documentation index of the installed libraries")
    index.add_argument("--index-dir", type=Path, default=None,
                       help="cache directory (default: $MLOPS_LSP_INDEX_DIR or ~/.cache/mlops-lsp/docs-index)")
    commands = index.add_subparsers(dest="index_command", metavar="{build,search,status}")
    commands.required = True
    build = commands.add_parser("build", help="(re)build the tables of the installed library versions")
    build.add_argument("--library", action="append", choices=sorted(LIBRARIES), metavar="L",
                       help=f"library to build (repeatable; default all: {', '.join(LIBRARIES)})")
    build.add_argument("--reuse-extraction", action="store_true",
                       help="reuse cached API extraction of the same library version instead of re-importing it")
    search = commands.add_parser("search", help="print the ranked chunks for a query, with their source")
    search.add_argument("query", help="a task description or a code snippet")
    search.add_argument("--library", action="append", choices=sorted(LIBRARIES), metavar="L",
                        help="library to search (repeatable; default all)")
    search.add_argument("-k", type=int, default=5, help="number of results (default 5)")
    search.add_argument("--mode", choices=SEARCH_MODES, default="hybrid", help="search mode (default hybrid)")
    search.add_argument("--full", action="store_true", help="print whole chunks instead of a preview")
    search.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands.add_parser("status", help="show which tables are fresh, stale, missing or corrupt")
    return index


def _print_reports(reports: Sequence[BuildReport]) -> None:
    print(f"{'library':<12} {'version':<12} {'chunks':>6} {'extract s':>9} {'embed s':>8} {'write s':>8} {'new vectors':>11}")
    for r in reports:
        print(f"{r.library:<12} {r.version:<12} {r.chunks:>6} {r.extract_seconds:>9.1f} {r.embed_seconds:>8.1f} "
              f"{r.write_seconds:>8.1f} {r.embedded:>11}")
    total = sum(r.seconds for r in reports)
    print(f"{len(reports)} table(s), {sum(r.chunks for r in reports)} chunks, {total:.1f} s summed over libraries")


def _print_hits(hits: Sequence[SearchHit], full: bool) -> None:
    if not hits:
        print("no results")
        return
    for rank, hit in enumerate(hits, start=1):
        print(f"{rank}. {hit.symbol}  [{hit.library} | {hit.source} | {hit.kind}]  score {hit.score:.4f}")
        body = hit.text if full else "\n".join(hit.text.splitlines()[:6])
        print(textwrap.indent(body, "   "))
        if not full and len(hit.text.splitlines()) > 6:
            print("   ...")
        print()


def run(args: argparse.Namespace) -> int:
    from .store import BuildFailed, DocsIndex, IndexError_

    index = DocsIndex(cache_dir=args.index_dir)
    try:
        if args.index_command == "build":
            try:
                _print_reports(index.build(args.library, reuse_extraction=args.reuse_extraction))
            except BuildFailed as exc:
                _print_reports(exc.reports)
                raise
            return 0
        if args.index_command == "status":
            for name, spec in LIBRARIES.items():
                version = spec.version() or "not installed"
                state = index.status(name) if spec.version() else "-"
                print(f"{name:<12} {version:<12} {state}")
            return 0
        if args.k < 1:
            print("error: -k must be at least 1", file=sys.stderr)
            return 2
        if not args.query.strip():
            print("error: empty query", file=sys.stderr)
            return 2
        hits = index.search(args.query, args.library, k=args.k, mode=args.mode)
        if args.json:
            print(json.dumps([hit.__dict__ for hit in hits], indent=1, default=list))
        else:
            _print_hits(hits, args.full)
        return 0
    except IndexError_ as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry: ``python -m mlops_lsp.docs_index.cli index search ...``."""
    parser = argparse.ArgumentParser(prog="mlops-lsp")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_arguments(subparsers)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
