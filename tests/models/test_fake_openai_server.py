"""The fake server speaks the protocol the real `openai` client expects (so backend tests mean something)."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.models.fake_openai_server import Answer, CloseMidway, FakeOpenAI, Garbage, HttpError


def client(fake: FakeOpenAI) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.base_url, api_key="sk-test-key", max_retries=0, timeout=5)


def test_non_streaming_answer_and_request_recorded(fake_openai: FakeOpenAI) -> None:
    fake_openai.answer("hello there", prompt_tokens=7, completion_tokens=3)
    reply = client(fake_openai).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], temperature=0.3
    )
    assert reply.choices[0].message.content == "hello there"
    assert reply.usage is not None and (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (7, 3)
    (request,) = fake_openai.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test-key"
    assert request.body is not None and request.body["temperature"] == 0.3


def test_streaming_answer_with_usage(fake_openai: FakeOpenAI) -> None:
    fake_openai.answer(lambda body: body["messages"][-1]["content"].upper(), prompt_tokens=5)
    stream = client(fake_openai).chat.completions.create(
        model="m",
        messages=[{"role": "user", "content": "echo me"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "ECHO ME"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 5


def test_queue_then_default(fake_openai: FakeOpenAI) -> None:
    fake_openai.enqueue(Answer("first"), HttpError(503))
    fake_openai.answer("default")
    c = client(fake_openai)
    ask = lambda: c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])  # noqa: E731
    assert ask().choices[0].message.content == "first"
    with pytest.raises(openai.InternalServerError):
        ask()
    assert ask().choices[0].message.content == "default"


def test_faults_reach_the_client_as_errors(fake_openai: FakeOpenAI) -> None:
    c = client(fake_openai)
    fake_openai.behave(Garbage())
    with pytest.raises((ValueError, openai.APIResponseValidationError)):  # the client raises JSONDecodeError
        c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    fake_openai.behave(CloseMidway(deltas=2))
    stream = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], stream=True)
    with pytest.raises((httpx.RemoteProtocolError, openai.APIError)):
        list(stream)
