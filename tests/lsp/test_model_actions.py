"""Model actions through the real LSP client: progress, cancellation, faults of the model endpoint.

The server runs in a subprocess over stdio (pytest-lsp's client, as in test_server.py); the model is
the real ``openai-compatible`` backend talking HTTP to a scripted local endpoint
(tests/models/fake_openai_server.py). Every fault must end with a one-line message, no edit, and a
server that still answers; no API key from the environment may reach the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from tests.models.fake_openai_server import Answer, CloseMidway, FakeOpenAI, Garbage, Hang, HttpError, Slow

from .helpers import (SERVER_COMMAND, apply_text_edits, edits_of, list_actions, open_document,
                      parse_code_actions_correctly)

URI = "file:///tmp/mlops-lsp-model-test/train.py"
MLFLOW = "tracking.mlflow"
# Given to the server as API keys: none of it may ever reach a log or a message.
SECRET = "sk-test-6f1c9a2e0b7d4e58a3c1f2d9e8b7a6c5"
LISTING_WHILE_BUSY_SECONDS = 2.0  # generous for a loaded 2-core machine; a blocked server takes the model's time


def model_options(fake: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {
        "strategy": "llm",
        "model": f"openai-compatible:{fake.base_url}#fake",
        "retrieval": "none",  # no documentation index needed: the faults are the model's
        "repair_rounds": 0,
        "timeout": 30,
        **extra,
    }


def _all_client_text(client: LanguageClient) -> list[str]:
    """Everything the server told the client in words: messages, logs, progress."""
    texts = [m.message for m in client.messages] + [m.message for m in client.log_messages]
    for reports in client.progress_reports.values():
        for value in reports:
            texts += [str(getattr(value, "title", "") or ""), str(getattr(value, "message", "") or "")]
    return texts


def assert_no_secret(client: LanguageClient) -> None:
    leaked = [text for text in _all_client_text(client) if SECRET in text or SECRET[3:20] in text]
    assert not leaked, f"the API key reached the client: {leaked[:3]}"


@contextlib.asynccontextmanager
async def running_server(options: dict[str, Any], capabilities: types.ClientCapabilities | None = None
                         ) -> AsyncIterator[LanguageClient]:
    """A real server process with API keys in its environment; checks it exits promptly and leaked nothing."""
    env = {**os.environ, "MLOPS_LSP_API_KEY": SECRET, "OPENAI_API_KEY": SECRET}
    client = await ClientServerConfig(server_command=SERVER_COMMAND, server_env=env).start()
    parse_code_actions_correctly(client)
    client.applied_edits = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        client.applied_edits.append(params)
        return types.ApplyWorkspaceEditResult(applied=True)

    try:
        await client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities or client_capabilities("visual-studio-code"),
                initialization_options=options,
            )
        )
        yield client
        # even with a model call still hanging, the server must exit at once when asked
        await asyncio.wait_for(client.shutdown_session(), 15)
        assert_no_secret(client)
    finally:
        # after a failed assertion the server was never asked to exit: stop() would wait for it forever
        server = client._server
        if server is not None and server.returncode is None:
            server.kill()
        await client.stop()


async def wait_until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


async def mlflow_action(client: LanguageClient, source: str, uri: str = URI) -> types.CodeAction:
    open_document(client, uri, source)
    (action,) = [a for a in await list_actions(client, uri) if a.data["action"] == MLFLOW]
    return action


def is_one_line(text: str) -> bool:
    return bool(text.strip()) and "\n" not in text and "Traceback" not in text


async def assert_alive(client: LanguageClient, source: str) -> None:
    uri = "file:///tmp/mlops-lsp-model-test/other.py"
    open_document(client, uri, source)
    started = time.monotonic()
    assert await list_actions(client, uri)
    assert time.monotonic() - started < LISTING_WHILE_BUSY_SECONDS


def progress_values(client: LanguageClient) -> list[list[Any]]:
    return [values for values in client.progress_reports.values() if values]


# -- faults of the model endpoint ---------------------------------------------------------------

FAULTS = {
    "hang": (Hang(), {"timeout": 5}),  # the budget also covers importing the client on a loaded machine
    "garbage": (Garbage(), {}),
    "http-500": (HttpError(500, message="upstream exploded"), {}),
    "http-500-echoing-the-key": (HttpError(500, message=f"invalid key {SECRET} for this model"), {}),
    "closed-stream": (CloseMidway(), {}),
}


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_model_fault_gives_one_line_no_edit_and_server_alive(fault: str, fake_openai: FakeOpenAI,
                                                                  sklearn_source: str):
    behaviour, extra = FAULTS[fault]
    fake_openai.behave(behaviour)
    async with running_server(model_options(fake_openai, **extra)) as client:
        action = await mlflow_action(client, sklearn_source)
        started = time.monotonic()
        resolved = await asyncio.wait_for(client.code_action_resolve_async(action), 60)
        elapsed = time.monotonic() - started
        assert fake_openai.requests, "the model endpoint was never called"
        assert resolved.edit is None
        error = resolved.data["error"]
        assert is_one_line(error), error
        assert resolved.data["action"] == MLFLOW
        shown = [m.message for m in client.messages if m.type <= types.MessageType.Warning]
        assert shown and all(is_one_line(m) for m in shown), shown
        if fault == "hang":
            assert elapsed < 30, f"a hanging endpoint held the resolve {elapsed:.0f} s with timeout=5"
        await assert_alive(client, sklearn_source)
    assert not client.applied_edits


async def test_bad_model_spec_is_one_line(sklearn_source: str):
    for spec in ("no-such-backend:whatever", "llama-cpp:/nonexistent/model.gguf", "openai-compatible:not a url"):
        async with running_server({"strategy": "llm", "model": spec, "retrieval": "none"}) as client:
            action = await mlflow_action(client, sklearn_source)
            resolved = await asyncio.wait_for(client.code_action_resolve_async(action), 60)
            assert resolved.edit is None
            assert is_one_line(resolved.data["error"]), resolved.data["error"]
            assert any(is_one_line(m.message) for m in client.messages)
            await assert_alive(client, sklearn_source)


# -- progress, streaming, cancellation ----------------------------------------------------------

# What a strong model answers for examples/sklearn_train.py (the SEARCH/REPLACE edit format).
MLFLOW_EDIT = """<<<<<<< SEARCH
import pickle
=======
import pickle

import mlflow
>>>>>>> REPLACE
<<<<<<< SEARCH
    model.fit(X_train, y_train)
    accuracy = accuracy_score(y_test, model.predict(X_test))
=======
    mlflow.sklearn.autolog()
    with mlflow.start_run():
        model.fit(X_train, y_train)
        accuracy = accuracy_score(y_test, model.predict(X_test))
        mlflow.log_metric("accuracy", accuracy)
>>>>>>> REPLACE
"""


async def test_model_edit_arrives_through_resolve_with_progress(fake_openai: FakeOpenAI, sklearn_source: str):
    fake_openai.behave(Answer(MLFLOW_EDIT, prompt_tokens=50, chunk_chars=8))
    async with running_server(model_options(fake_openai)) as client:
        action = await mlflow_action(client, sklearn_source)
        resolved = await asyncio.wait_for(client.code_action_resolve_async(action), 60)
        assert resolved.edit is not None, resolved.data
        assert resolved.data["engine"] == "llm" and resolved.data["tokens"]["prompt"] == 50
        edits, version = edits_of(resolved.edit, URI)
        assert version == 1
        adapted = apply_text_edits(sklearn_source, edits)
        assert "with mlflow.start_run():" in adapted and "import mlflow" in adapted
        ((begin, *_, end),) = progress_values(client)
        assert isinstance(begin, types.WorkDoneProgressBegin) and isinstance(end, types.WorkDoneProgressEnd)


async def test_document_changed_during_a_slow_model_action_gets_no_stale_edit(fake_openai: FakeOpenAI,
                                                                             sklearn_source: str):
    fake_openai.behave(Slow(text=MLFLOW_EDIT, delay=0.05, chunk_chars=8))  # a valid edit, ~2 s to stream
    async with running_server(model_options(fake_openai)) as client:
        action = await mlflow_action(client, sklearn_source)
        pending = asyncio.ensure_future(client.code_action_resolve_async(action))
        await wait_until(lambda: fake_openai.requests, what="the model call")
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=sklearn_source + "# typed\n")],
            )
        )
        resolved = await asyncio.wait_for(pending, 60)
        assert resolved.edit is None
        assert "changed" in resolved.data["error"] and is_one_line(resolved.data["error"])
        assert resolved.data["tokens"]["completion"] > 0  # the model did answer: only the stale edit was dropped



async def test_model_action_reports_cancellable_progress_with_token_counts(fake_openai: FakeOpenAI,
                                                                          sklearn_source: str):
    fake_openai.behave(Slow(text="x = 1\n" * 40, delay=0.03, chunk_chars=3))
    async with running_server(model_options(fake_openai)) as client:
        action = await mlflow_action(client, sklearn_source)
        resolved = await asyncio.wait_for(client.code_action_resolve_async(action), 60)
        (values,) = progress_values(client)
        begin, *reports, end = values
        assert isinstance(begin, types.WorkDoneProgressBegin) and begin.cancellable is True
        assert begin.title == "MLOps: Add MLflow experiment tracking"
        assert isinstance(end, types.WorkDoneProgressEnd)
        messages = [r.message or "" for r in reports]
        assert any(re.search(r"\d+ tokens", m) for m in messages), messages
        assert resolved.data["tokens"]["completion"] > 0
        assert resolved.data["engine"] in (None, "llm")


async def test_listing_answers_while_a_model_action_runs_then_cancel_request(fake_openai: FakeOpenAI,
                                                                           sklearn_source: str):
    fake_openai.behave(Slow(delay=0.2))  # ~14 s of streaming unless cancelled
    async with running_server(model_options(fake_openai)) as client:
        action = await mlflow_action(client, sklearn_source)
        request_id = "model-resolve-1"
        pending = asyncio.ensure_future(
            client.protocol.send_request_async(types.CODE_ACTION_RESOLVE, action, msg_id=request_id)
        )
        await wait_until(lambda: fake_openai.requests, what="the model call")
        await assert_alive(client, sklearn_source)  # listing is not blocked by the running model
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=request_id))
        with pytest.raises(JsonRpcRequestCancelled):
            await asyncio.wait_for(pending, 10)
        await wait_until(lambda: any("cancelled" in m.message for m in client.messages), what="a cancel message")
        # the cancel reached the backend: it hung up on the stream instead of reading it to the end
        await wait_until(lambda: fake_openai.disconnects >= 1, what="the backend to close the stream")
        await assert_alive(client, sklearn_source)
        assert all(isinstance(v[-1], types.WorkDoneProgressEnd) for v in progress_values(client))


async def test_progress_cancel_button_stops_the_model(fake_openai: FakeOpenAI, sklearn_source: str):
    fake_openai.behave(Slow(delay=0.2))
    async with running_server(model_options(fake_openai)) as client:
        action = await mlflow_action(client, sklearn_source)
        started = time.monotonic()
        pending = asyncio.ensure_future(client.code_action_resolve_async(action))
        await wait_until(lambda: fake_openai.requests and progress_values(client), what="progress to begin")
        (token,) = [t for t, v in client.progress_reports.items() if v]
        client.protocol.notify(types.WINDOW_WORK_DONE_PROGRESS_CANCEL, types.WorkDoneProgressCancelParams(token=token))
        resolved = await asyncio.wait_for(pending, 10)
        assert time.monotonic() - started < 10
        assert resolved.edit is None
        assert "cancelled" in resolved.data["error"] and is_one_line(resolved.data["error"])
        await wait_until(lambda: fake_openai.disconnects >= 1, what="the backend to close the stream")
        assert isinstance(client.progress_reports[token][-1], types.WorkDoneProgressEnd)
        await assert_alive(client, sklearn_source)


def _without_resolve() -> types.ClientCapabilities:
    capabilities = copy.deepcopy(client_capabilities("visual-studio-code"))
    capabilities.text_document.code_action.resolve_support = None
    return capabilities


async def test_command_uses_the_clients_progress_token_and_cancel_applies_nothing(fake_openai: FakeOpenAI,
                                                                                 sklearn_source: str):
    fake_openai.behave(Slow(delay=0.2))
    async with running_server(model_options(fake_openai), _without_resolve()) as client:
        action = await mlflow_action(client, sklearn_source)
        assert action.command is not None and action.command.command == "mlops-lsp.applyAction"
        token = "client-token-1"
        client.progress_reports[token] = []  # the client created it, as an editor does with its own tokens
        pending = asyncio.ensure_future(client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=action.command.command, arguments=action.command.arguments,
                                       work_done_token=token)
        ))
        await wait_until(lambda: client.progress_reports[token], what="progress on the client's token")
        assert isinstance(client.progress_reports[token][0], types.WorkDoneProgressBegin)
        client.protocol.notify(types.WINDOW_WORK_DONE_PROGRESS_CANCEL, types.WorkDoneProgressCancelParams(token=token))
        result = await asyncio.wait_for(pending, 10)
        assert result["applied"] is False and "cancelled" in result["error"]
        assert isinstance(client.progress_reports[token][-1], types.WorkDoneProgressEnd)
        await assert_alive(client, sklearn_source)
    assert not client.applied_edits


async def test_command_applies_a_model_edit_with_progress_on_the_clients_token(fake_openai: FakeOpenAI,
                                                                                sklearn_source: str):
    fake_openai.behave(Answer(MLFLOW_EDIT))
    async with running_server(model_options(fake_openai), _without_resolve()) as client:
        action = await mlflow_action(client, sklearn_source)
        token = "client-token-2"
        client.progress_reports[token] = []
        result = await asyncio.wait_for(client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=action.command.command, arguments=action.command.arguments,
                                       work_done_token=token)
        ), 60)
        assert result["applied"] is True and result["engine"] == "llm", result
        (applied,) = client.applied_edits
        edits, _ = edits_of(applied.edit, URI)
        assert "mlflow.start_run()" in apply_text_edits(sklearn_source, edits)
        values = client.progress_reports[token]
        assert isinstance(values[0], types.WorkDoneProgressBegin) and isinstance(values[-1], types.WorkDoneProgressEnd)


async def test_cancel_request_on_the_command_applies_nothing(fake_openai: FakeOpenAI, sklearn_source: str):
    fake_openai.behave(Slow(text=MLFLOW_EDIT, delay=0.1, chunk_chars=8))  # a valid edit, were it not cancelled
    async with running_server(model_options(fake_openai), _without_resolve()) as client:
        action = await mlflow_action(client, sklearn_source)
        request_id = "model-command-1"
        pending = asyncio.ensure_future(client.protocol.send_request_async(
            types.WORKSPACE_EXECUTE_COMMAND,
            types.ExecuteCommandParams(command=action.command.command, arguments=action.command.arguments),
            msg_id=request_id,
        ))
        await wait_until(lambda: fake_openai.requests, what="the model call")
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=request_id))
        with pytest.raises(JsonRpcRequestCancelled):
            await asyncio.wait_for(pending, 10)
        await wait_until(lambda: fake_openai.disconnects >= 1, what="the backend to close the stream")
        await asyncio.sleep(1.0)  # an edit sent after the cancel would arrive by now
        await assert_alive(client, sklearn_source)
    assert not client.applied_edits


async def test_auto_uses_the_codemod_without_calling_the_model(fake_openai: FakeOpenAI, sklearn_source: str):
    fake_openai.behave(Hang())  # a model call would hang: the codemod must not need it
    async with running_server(model_options(fake_openai, strategy="auto")) as client:
        action = await mlflow_action(client, sklearn_source)
        resolved = await asyncio.wait_for(client.code_action_resolve_async(action), 30)
        assert resolved.edit is not None, resolved.data
        assert resolved.data["engine"] == "codemod"
        assert not fake_openai.requests


async def test_a_key_pasted_into_the_settings_is_redacted_from_logs_and_messages(fake_openai: FakeOpenAI,
                                                                                 sklearn_source: str):
    """The server logs its options at start and names the model in errors: a key that a user pasted
    as the model name must still never reach the client (running_server checks every text)."""
    fake_openai.behave(HttpError(500))
    options = model_options(fake_openai) | {"model": f"openai-compatible:{fake_openai.base_url}#{SECRET}"}
    async with running_server(options) as client:
        action = await mlflow_action(client, sklearn_source)
        resolved = await asyncio.wait_for(client.code_action_resolve_async(action), 60)
        assert resolved.edit is None and is_one_line(resolved.data["error"])
        assert any("[redacted]" in text for text in _all_client_text(client))


# -- the bench drives the same path headlessly (server/bench/generate.py) -------------------------


def test_bench_llm_records_tokens_seconds_and_the_engines_reason(fake_openai: FakeOpenAI, tmp_path, monkeypatch):
    import json

    from mlops_lsp.bench.cli import main as bench

    monkeypatch.setenv("MLOPS_LSP_API_KEY", SECRET)  # the bench's server inherits it
    # the first sample's only model call; an endpoint that echoes the key it was given
    fake_openai.enqueue(HttpError(500, message=f"boom for key {SECRET}"))
    fake_openai.answer("no code here", prompt_tokens=123)  # then answers the engine cannot use
    out = tmp_path / "out"
    status = bench(["--strategy", "llm", "--model", f"openai-compatible:{fake_openai.base_url}#fake",
                    "--retrieval", "none", "--temperature", "0.2", "0.7", "-n", "1",
                    "--cases", "sklearn-digits-denoising", "--actions", MLFLOW, "--out", str(out)])
    assert status == 0
    samples = {s["temperature"]: s for s in json.loads((out / "results.json").read_text())["samples"]}
    assert set(samples) == {0.2, 0.7}
    failed_call, unusable = samples[0.2], samples[0.7]
    assert not failed_call["passed"] and "HTTP 500" in failed_call["error"] and is_one_line(failed_call["error"])
    assert not unusable["passed"] and unusable["error"].startswith(f"{MLFLOW} not applied: llm:")
    assert unusable["tokens"]["prompt"] >= 123 and unusable["tokens"]["completion"] > 0
    assert all(s["generation_seconds"] > 0 for s in samples.values())
    assert fake_openai.requests[0].headers["authorization"] == f"Bearer {SECRET}"  # the key was really used
    for written in [out / "results.json", out / "server.log", *out.glob("generated/**/*.json")]:
        assert SECRET[3:20] not in written.read_text(), f"the API key reached {written}"


@pytest.mark.parametrize("arguments, expected", [
    (["--strategy", "llm"], "--strategy llm needs --model"),
    (["--strategy", "llm", "--model", "nonsense"], "bad model spec"),
])
def test_bench_model_usage_errors_are_one_line(arguments: list[str], expected: str, tmp_path, capsys):
    from mlops_lsp.bench.cli import main as bench

    assert bench([*arguments, "--out", str(tmp_path / "out")]) == 2
    error = capsys.readouterr().err
    assert expected in error and error.count("\n") == 1
    assert not (tmp_path / "out").exists()
