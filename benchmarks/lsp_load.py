"""Load on the language server over stdio: many open documents, bursts of code-action requests,
then big resolves; listing latency and the server's RSS (from /proc/<pid>/status) along the way.

    python benchmarks/lsp_load.py [--documents 50] [--requests 1000] [--burst 50]
                                  [--big-resolves 20] [--big-lines 5000] [--json OUT]

Phases: start (idle RSS) -> open N documents (the dataset's training scripts, cycled) -> R listing
requests sent in concurrent bursts of B, every other burst after a didChange of a few documents so
detection is not always served from the per-version cache -> K resolves of a generated long
script (tracking.mlflow codemod, a new version each time) -> close everything. Exit status 1 if the
server died or a request failed.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import random
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

ROOT = Path(__file__).resolve().parent.parent
CAPABILITIES = types.ClientCapabilities(
    text_document=types.TextDocumentClientCapabilities(
        code_action=types.CodeActionClientCapabilities(
            code_action_literal_support=types.ClientCodeActionLiteralOptions(
                code_action_kind=types.ClientCodeActionKindOptions(value_set=[types.CodeActionKind.RefactorRewrite])
            ),
            resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]),
            data_support=True,
        )
    ),
    workspace=types.WorkspaceClientCapabilities(workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)),
)


def long_script(lines: int) -> str:
    """The generated scikit-learn script of benchmarks/lsp_latency.py (one generator for both)."""
    spec = importlib.util.spec_from_file_location("lsp_latency", ROOT / "benchmarks" / "lsp_latency.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module.script(lines)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _listing(uri: str) -> types.CodeActionParams:
    origin = types.Position(line=0, character=0)
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=origin, end=origin),
        context=types.CodeActionContext(diagnostics=[]),
    )


def _touch(client: LanguageClient, uri: str, version: int) -> None:
    """An edit that changes the version but not the text (a space typed and deleted)."""
    origin = types.Position(line=0, character=0)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=types.Range(start=origin, end=origin), text="")],
        )
    )


async def run_load(documents: int = 50, requests: int = 1000, burst: int = 50, big_resolves: int = 20,
                   big_lines: int = 5000, seed: int = 0, server: list[str] | None = None) -> dict:
    """Drive a fresh server; returns the figures (latencies in ms, RSS in MB)."""
    rng = random.Random(seed)
    scripts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "dataset").glob("*/train.py"))]
    client = LanguageClient("load-bench", "1")
    command = server or [sys.executable, "-m", "mlops_lsp", "serve"]
    await client.start_io(command[0], *command[1:])
    figures: dict = {"documents": documents, "requests": requests, "burst": burst}
    try:
        await client.initialize_async(types.InitializeParams(capabilities=CAPABILITIES, initialization_options={"strategy": "codemod"}))
        client.initialized(types.InitializedParams())
        pid = client._server.pid
        await asyncio.sleep(0.5)
        figures["rss_idle"] = rss_mb(pid)
        _progress(f"server {pid} idle: {figures['rss_idle']:.0f} MB")

        uris = [f"file:///tmp/mlops-lsp-load/doc{i}/train.py" for i in range(documents)]
        versions = dict.fromkeys(uris, 1)
        for i, uri in enumerate(uris):
            client.text_document_did_open(types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=scripts[i % len(scripts)])))

        latencies: list[float] = []
        failures = 0
        empty = 0

        async def timed(uri: str) -> None:
            nonlocal failures, empty
            started = time.perf_counter()
            try:
                result = await client.text_document_code_action_async(_listing(uri))
            except Exception:
                failures += 1
                return
            latencies.append(time.perf_counter() - started)
            empty += not result

        sent, bursts, wall = 0, 0, time.perf_counter()
        while sent < requests:
            if bursts % 2:
                for uri in rng.sample(uris, k=min(5, len(uris))):
                    versions[uri] += 1
                    _touch(client, uri, versions[uri])
            size = min(burst, requests - sent)
            await asyncio.gather(*(timed(rng.choice(uris)) for _ in range(size)))
            sent += size
            bursts += 1
        wall = time.perf_counter() - wall
        _progress(f"{sent} listings in {bursts} bursts: {wall:.1f} s")
        ms = [v * 1000 for v in latencies]
        figures.update(
            listing_p50=statistics.median(ms), listing_p95=percentile(ms, 0.95), listing_max=max(ms),
            listing_failures=failures, listings_without_actions=empty, bursts=bursts,
            listings_per_second=len(ms) / wall, rss_after_listings=rss_mb(pid),
        )

        big_uri = "file:///tmp/mlops-lsp-load/big/train.py"
        text = long_script(big_lines)
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=big_uri, language_id="python", version=1, text=text)))
        resolve_seconds, rss_curve = [], []
        for version in range(2, big_resolves + 2):
            _touch(client, big_uri, version)
            (action,) = [a for a in await client.text_document_code_action_async(_listing(big_uri))
                         if a.data["action"] == "tracking.mlflow"]
            started = time.perf_counter()
            resolved = await client.code_action_resolve_async(action)
            resolve_seconds.append(time.perf_counter() - started)
            if resolved.edit is None:
                failures += 1
            rss_curve.append(round(rss_mb(pid), 1))
            _progress(f"resolve {version - 1}/{big_resolves}: {resolve_seconds[-1]:.1f} s, RSS {rss_curve[-1]} MB")
        if resolve_seconds:
            figures.update(big_lines=big_lines, big_resolves=big_resolves,
                           resolve_p50_ms=statistics.median(resolve_seconds) * 1000, rss_after_each_resolve=rss_curve)
        for uri in [*uris, big_uri]:
            client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
        # a round trip on a fresh document, so the closes are processed (a closed one cannot be listed)
        probe = "file:///tmp/mlops-lsp-load/probe.py"
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=probe, language_id="python", version=1, text="x = 1\n")))
        await client.text_document_code_action_async(_listing(probe))
        await asyncio.sleep(0.5)
        figures["rss_after_close"] = rss_mb(pid)
        figures["failures"] = failures
        figures["alive"] = client._server.returncode is None
        await client.shutdown_async(None)
        client.exit(None)
    finally:
        if client._server.returncode is None and "alive" not in figures:  # failed midway: no clean exit
            client._server.kill()
        await client.stop()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--big-resolves", type=int, default=20)
    parser.add_argument("--big-lines", type=int, default=5000)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON")
    parser.add_argument("--server", nargs="+", help="server command (default: python -m mlops_lsp serve)")
    args = parser.parse_args()
    figures = asyncio.run(run_load(args.documents, args.requests, args.burst, args.big_resolves, args.big_lines,
                                   server=args.server))
    for key, value in figures.items():
        print(f"{key:28s} {value:.1f}" if isinstance(value, float) else f"{key:28s} {value}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    return 0 if figures["alive"] and not figures["failures"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
