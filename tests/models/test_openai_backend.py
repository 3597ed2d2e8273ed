"""The openai / openai-compatible backends against a real local HTTP server scripted per test."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from mlops_lsp.models import Completion, ModelError, load_backend
from mlops_lsp.models.openai_backend import OpenAIBackend, OpenAICompatibleBackend
from tests.models.fake_openai_server import Answer, CloseMidway, FakeOpenAI, Garbage, Hang, HttpError, Slow

KEY = "sk-test-1234567890abcdef-SECRET"
MESSAGES = [{"role": "system", "content": "You write Python."}, {"role": "user", "content": "Say hi."}]


@pytest.fixture
def backend(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> OpenAICompatibleBackend:
    monkeypatch.setenv("MLOPS_LSP_API_KEY", KEY)
    b = OpenAICompatibleBackend(f"{fake_openai.base_url}#qwen-test")
    yield b
    b.close()


def chat(backend: OpenAICompatibleBackend, **kwargs: object) -> Completion:
    options: dict[str, object] = {"temperature": 0.2, "seed": 7, "max_tokens": 64, "timeout": 5.0}
    options.update(kwargs)
    return backend.chat(MESSAGES, **options)  # type: ignore[arg-type]


def assert_one_line_without_key(error: ModelError) -> str:
    text = str(error)
    assert "\n" not in text and text.strip() == text and text
    assert KEY not in text and "SECRET" not in text
    return text


def test_streams_tokens_and_reports_usage(fake_openai: FakeOpenAI, backend: OpenAICompatibleBackend) -> None:
    fake_openai.answer("print('hello')\n", prompt_tokens=21, completion_tokens=5, chunk_chars=3)
    seen: list[str] = []
    result = chat(backend, on_token=seen.append, stop=["```"])
    assert result == Completion("print('hello')\n", 21, 5, "stop")
    assert seen == ["pri", "nt(", "'he", "llo", "')\n"]
    (request,) = fake_openai.requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = request.body
    assert body is not None
    assert body["messages"] == MESSAGES and body["model"] == "qwen-test"
    assert (body["temperature"], body["seed"], body["max_tokens"], body["stop"]) == (0.2, 7, 64, ["```"])
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_counts_tokens_when_the_server_sends_no_usage(fake_openai: FakeOpenAI, backend: OpenAICompatibleBackend) -> None:
    fake_openai.answer("x = 1\n" * 7, prompt_tokens=None)
    result = chat(backend)
    assert result.text == "x = 1\n" * 7
    assert result.completion_tokens == backend.count_tokens(result.text) > 0
    assert result.prompt_tokens > sum(backend.count_tokens(m["content"]) for m in MESSAGES) - 1


def test_length_finish_reason(fake_openai: FakeOpenAI, backend: OpenAICompatibleBackend) -> None:
    fake_openai.answer("truncated", finish_reason="length")
    assert chat(backend).finish_reason == "length"


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (HttpError(500, "boom"), "HTTP 500"),
        (HttpError(401, f"Incorrect API key provided: {KEY}"), "refused the API key"),
        (Garbage(), "not valid JSON"),
        (CloseMidway(deltas=2), "stream"),
    ],
    ids=["http500", "http401-echoes-key", "garbage", "closed-midway"],
)
def test_faults_are_one_line_errors(
    fake_openai: FakeOpenAI, backend: OpenAICompatibleBackend, behaviour: object, expected: str
) -> None:
    fake_openai.behave(behaviour)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(ModelError) as caught:
        chat(backend)
    assert time.monotonic() - started < 5
    text = assert_one_line_without_key(caught.value)
    assert expected in text and backend.name in text


def test_hanging_server_times_out_on_time(fake_openai: FakeOpenAI, backend: OpenAICompatibleBackend) -> None:
    fake_openai.behave(Hang())
    started = time.monotonic()
    with pytest.raises(ModelError, match="timed out"):
        chat(backend, timeout=1.0)
    assert 0.9 < time.monotonic() - started < 2.0


def test_slow_stream_is_bounded_by_the_overall_timeout(fake_openai: FakeOpenAI, backend: OpenAICompatibleBackend) -> None:
    # every read is quick, but the whole answer would take ~10 s
    fake_openai.behave(Slow(text="tok " * 50, delay=0.2))
    started = time.monotonic()
    with pytest.raises(ModelError, match="timed out"):
        chat(backend, timeout=1.0)
    assert time.monotonic() - started < 2.0


def test_connection_refused_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLOPS_LSP_API_KEY", KEY)
    with FakeOpenAI() as fake:
        url = fake.base_url  # a port that was just free: nothing listens there after close
    b = OpenAICompatibleBackend(f"{url}#m")
    with pytest.raises(ModelError) as caught:
        chat(b, timeout=3.0)
    assert "cannot reach the model server" in assert_one_line_without_key(caught.value)


def test_cancel_stops_quickly_and_closes_the_stream(fake_openai: FakeOpenAI, backend: OpenAICompatibleBackend) -> None:
    fake_openai.behave(Slow(text="tok " * 100, delay=0.1))
    cancel = threading.Event()
    seen: list[str] = []

    def on_token(delta: str) -> None:
        seen.append(delta)
        if len(seen) == 3:
            cancel.set()

    started = time.monotonic()
    result = chat(backend, on_token=on_token, cancel=cancel, timeout=30.0)
    assert time.monotonic() - started < 1.5
    assert result.finish_reason == "cancelled" and result.text == "".join(seen)
    # the server notices the closed connection on its next writes
    deadline = time.monotonic() + 3
    while fake_openai.disconnects == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fake_openai.disconnects == 1


def test_cancelled_before_start_sends_nothing(fake_openai: FakeOpenAI, backend: OpenAICompatibleBackend) -> None:
    cancel = threading.Event()
    cancel.set()
    assert chat(backend, cancel=cancel).finish_reason == "cancelled"
    assert fake_openai.requests == []


def test_server_refusing_stream_options_is_retried_without(
    fake_openai: FakeOpenAI, backend: OpenAICompatibleBackend
) -> None:
    fake_openai.enqueue(HttpError(400, "Unrecognized request argument supplied: stream_options"))
    fake_openai.answer("ok", prompt_tokens=None)
    assert chat(backend).text == "ok"
    assert chat(backend).text == "ok"
    assert ["stream_options" in (r.body or {}) for r in fake_openai.requests] == [True, False, False]


def test_key_never_logged_or_shown(
    fake_openai: FakeOpenAI, backend: OpenAICompatibleBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # includes the openai and httpx client loggers
    fake_openai.enqueue(Answer("fine"), HttpError(500, f"key {KEY} rejected"), Hang())
    assert chat(backend).text == "fine"
    for timeout in (5.0, 0.5):
        with pytest.raises(ModelError) as caught:
            chat(backend, timeout=timeout)
        assert_one_line_without_key(caught.value)
    assert caplog.records, "the client logs at DEBUG: the check below must see something"
    assert KEY not in caplog.text and "SECRET" not in caplog.text
    assert KEY not in repr(backend) and KEY not in backend.name


def test_openai_spec_uses_openai_key_and_new_token_parameter(
    fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_openai.base_url)
    fake_openai.answer("hi", prompt_tokens=3, completion_tokens=1)
    b = OpenAIBackend("gpt-4o-mini")
    try:
        assert b.chat(MESSAGES, temperature=0.0, seed=1, max_tokens=9, timeout=5).text == "hi"
    finally:
        b.close()
    body = fake_openai.requests[-1].body or {}
    assert body["max_completion_tokens"] == 9 and "max_tokens" not in body
    assert fake_openai.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    assert b.name == "openai:gpt-4o-mini" and not b.small


def test_openai_spec_without_key_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MLOPS_LSP_API_KEY", raising=False)
    with pytest.raises(ModelError, match="OPENAI_API_KEY"):
        load_backend("openai:gpt-4o-mini-nokey-test")


def test_compatible_without_any_key_sends_a_dummy(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("MLOPS_LSP_API_KEY", raising=False)
    b = OpenAICompatibleBackend(f"{fake_openai.base_url}#m")
    assert b.chat(MESSAGES, temperature=0.0, seed=1, max_tokens=9, timeout=5).text == "ok"
    assert fake_openai.requests[-1].headers["authorization"] == "Bearer not-needed"
