"""Latency of the language server over stdio, as an editor sees it.

Drives `python -m mlops_lsp serve` with pygls' client on generated scikit-learn scripts of 100, 800
and 5,000 lines and prints median/p95 of `initialize`, `textDocument/codeAction` (listing) and
`codeAction/resolve` (the tracking.mlflow codemod), plus the server's RSS.

    python benchmarks/lsp_latency.py [--lines 100 800 5000] [--listings 200] [--resolves 20]

Goals (issue 2): listing p95 <= 30 ms and codemod resolve p95 <= 300 ms on 800 lines; idle RSS <= 150 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

HEADER = '''"""Generated benchmark script."""
import argparse

import numpy as np
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

'''

HELPER = '''

def feature_{i}(x, scale={i}):
    """Helper {i}: a made-up transform."""
    y = np.asarray(x, dtype=float) * scale
    if y.ndim > 1:
        y = y.mean(axis=1)
    return y + {i}
'''

MAIN = '''

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-estimators", type=int, default=10)
    args = parser.parse_args()
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
    model = RandomForestClassifier(n_estimators=args.n_estimators, random_state=0)
    model.fit(X_train, y_train)
    accuracy = accuracy_score(y_test, model.predict(X_test))
    print(f"accuracy: {accuracy:.3f}")


if __name__ == "__main__":
    main()
'''


def script(lines: int) -> str:
    text, i = HEADER, 0
    while text.count("\n") + MAIN.count("\n") + HELPER.count("\n") <= lines:
        text += HELPER.format(i=i)
        i += 1
    return text + MAIN


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def summary(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return f"median {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   (n={len(ms)})"


async def measure(lines: list[int], listings: int, resolves: int) -> None:
    capabilities = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(value_set=[types.CodeActionKind.RefactorRewrite])
                ),
                resolve_support=types.ClientCodeActionResolveOptions(properties=["edit"]),
                data_support=True,
            )
        ),
        workspace=types.WorkspaceClientCapabilities(
            workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)
        ),
    )
    initialize_times = []
    for _ in range(5):
        client = LanguageClient("latency-bench", "1")
        await client.start_io(sys.executable, "-m", "mlops_lsp", "serve")
        started = time.perf_counter()
        await client.initialize_async(types.InitializeParams(capabilities=capabilities, initialization_options={"strategy": "codemod"}))
        initialize_times.append(time.perf_counter() - started)
        client.initialized(types.InitializedParams())
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    print(f"initialize            {summary(initialize_times)}")

    client = LanguageClient("latency-bench", "1")
    await client.start_io(sys.executable, "-m", "mlops_lsp", "serve")
    await client.initialize_async(types.InitializeParams(capabilities=capabilities, initialization_options={"strategy": "codemod"}))
    client.initialized(types.InitializedParams())
    pid = client._server.pid
    await asyncio.sleep(0.5)
    print(f"idle RSS after start  {rss_mb(pid):.1f} MB")
    for n in lines:
        text = script(n)
        uri = f"file:///tmp/latency/train_{n}.py"
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text))
        )
        params = types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
        listing_times, actions = [], []
        for version in range(2, listings + 2):
            # a new version each time, as while typing, so nothing is served from the cache
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[
                        types.TextDocumentContentChangePartial(
                            range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
                            text="",
                        )
                    ],
                )
            )
            started = time.perf_counter()
            actions = await client.text_document_code_action_async(params)
            listing_times.append(time.perf_counter() - started)
        (mlflow_action,) = [a for a in actions if a.data["action"] == "tracking.mlflow"]
        resolve_times = []
        for _ in range(resolves):
            started = time.perf_counter()
            resolved = await client.code_action_resolve_async(mlflow_action)
            resolve_times.append(time.perf_counter() - started)
            assert resolved.edit is not None, resolved.data
        print(f"{n:5d} lines  listing   {summary(listing_times)}")
        print(f"{n:5d} lines  resolve   {summary(resolve_times)}")
        print(f"{n:5d} lines  RSS after {rss_mb(pid):.1f} MB")
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[100, 800, 5000])
    parser.add_argument("--listings", type=int, default=200)
    parser.add_argument("--resolves", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(measure(args.lines, args.listings, args.resolves))


if __name__ == "__main__":
    main()
