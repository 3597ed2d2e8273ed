"""OpenAI API and OpenAI-compatible servers (Ollama, vLLM, llama.cpp server) via the `openai` client.

The client is imported when the first request is made, never at module import. Every request
streams; the stream is read in a helper thread and handed over through a queue, so the caller
returns on cancel or at the deadline whatever the network does (a stuck read cannot hold it).
The helper thread closes the stream as soon as it sees the stop flag and is bounded by the
client's own timeout otherwise.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from mlops_lsp.models import (
    DEFAULT_TIMEOUT_SECONDS,
    Completion,
    ModelError,
    approximate_prompt_tokens,
    approximate_tokens,
    one_line,
)

log = logging.getLogger(__name__)

INSTALL_HINT = "the openai package is not installed; install it with: pip install 'mlops-lsp[model]'"
# Looks like an API key (OpenAI "sk-...", also the partly masked form some servers echo back).
_KEY_PATTERN = re.compile(r"\b(sk|pk|rk)-[A-Za-z0-9_\-*.]{6,}")
_POLL_SECONDS = 0.05


@dataclass
class _Outcome:
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class _Secret:
    """Holds a key so that no repr, log line or traceback local shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


class _OpenAIChat:
    """The shared implementation; subclasses decide the endpoint, key and request shape."""

    small = False
    name: str

    def __init__(self, model: str, base_url: str | None, api_key: str, *, new_token_param: bool) -> None:
        self._model = model
        self._base_url = base_url
        self._key = _Secret(api_key)
        self._new_token_param = new_token_param  # OpenAI wants max_completion_tokens; servers want max_tokens
        self._stream_options_ok = True  # dropped (and remembered) if a server refuses stream_options
        self._client_instance: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # -- Backend -------------------------------------------------------------------------
    def chat(
        self,
        messages: list[dict[str, str]],
        *,
        temperature: float,
        seed: int,
        max_tokens: int,
        stop: list[str] | None = None,
        on_token: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        timeout: float | None = None,
    ) -> Completion:
        timeout = DEFAULT_TIMEOUT_SECONDS if timeout is None else float(timeout)
        deadline = time.monotonic() + timeout
        prompt_estimate = approximate_prompt_tokens(messages)
        if cancel is not None and cancel.is_set():
            return Completion("", 0, 0, "cancelled")
        params = self._params(messages, temperature, seed, max_tokens, stop)
        params["timeout"] = timeout  # per request: bounds the connect and each read
        client = self._client()
        parts: list[str] = []
        outcome = _Outcome()
        stop_flag = threading.Event()
        events: queue.Queue[tuple[str, Any]] = queue.Queue()
        reader = threading.Thread(
            target=self._read_stream, args=(client, params, events, stop_flag), name="openai-stream", daemon=True
        )
        reader.start()
        try:
            while True:
                if cancel is not None and cancel.is_set():
                    text = "".join(parts)
                    return Completion(text, prompt_estimate, approximate_tokens(text), "cancelled")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ModelError(f"{self.name}: no complete answer within {timeout:g} s (timed out)")
                try:
                    kind, value = events.get(timeout=min(_POLL_SECONDS, remaining))
                except queue.Empty:
                    continue
                if kind == "delta":
                    parts.append(value)
                    if on_token is not None:
                        on_token(value)
                elif kind == "finish":
                    outcome.finish_reason = value
                elif kind == "usage":
                    outcome.prompt_tokens, outcome.completion_tokens = value
                elif kind == "error":
                    raise ModelError(f"{self.name}: {value}")
                elif kind == "end":
                    return self._completion("".join(parts), outcome, prompt_estimate)
        finally:
            stop_flag.set()

    def count_tokens(self, text: str) -> int:
        return approximate_tokens(text)

    def close(self) -> None:
        with self._lock:
            client, self._client_instance = self._client_instance, None
        if client is not None:
            client.close()

    # -- internals -----------------------------------------------------------------------
    def _params(
        self, messages: list[dict[str, str]], temperature: float, seed: int, max_tokens: int, stop: list[str] | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self._model,
            "messages": messages,
            "temperature": temperature,
            "seed": seed,
            "stream": True,
            ("max_completion_tokens" if self._new_token_param else "max_tokens"): max_tokens,
        }
        if stop:
            params["stop"] = stop
        if self._stream_options_ok:
            params["stream_options"] = {"include_usage": True}
        return params

    def _client(self) -> Any:
        with self._lock:
            client = self._client_instance
            if client is None:
                try:
                    import openai
                except ImportError as exc:
                    raise ModelError(INSTALL_HINT) from exc
                # no retries: a retry would silently double the wait the caller budgeted
                client = openai.OpenAI(api_key=self._key.reveal(), base_url=self._base_url, max_retries=0)
                self._client_instance = client
            return client

    def _read_stream(
        self, client: Any, params: dict[str, Any], events: queue.Queue[tuple[str, Any]], stop_flag: threading.Event
    ) -> None:
        """Runs in the helper thread: every outcome, including failure, ends up in `events`."""
        try:
            saw_finish = False
            with contextlib.closing(self._open_stream(client, params)) as chunks:
                for chunk in chunks:
                    if stop_flag.is_set():
                        return  # closing the generator leaves its `with stream:`, which closes the response
                    usage = getattr(chunk, "usage", None)
                    if usage is not None:
                        events.put(("usage", (usage.prompt_tokens, usage.completion_tokens)))
                    for choice in chunk.choices or ():
                        content = getattr(choice.delta, "content", None) if choice.delta is not None else None
                        if content:
                            events.put(("delta", content))
                        if choice.finish_reason:
                            saw_finish = True
                            events.put(("finish", choice.finish_reason))
            if not saw_finish:
                events.put(("error", "the server closed the stream before the answer was complete"))
            events.put(("end", None))
        except Exception as exc:  # noqa: BLE001 - every failure becomes one ModelError line for the caller
            if not stop_flag.is_set():
                events.put(("error", self._describe(exc)))
            else:
                log.debug("%s: stream ended after the caller left: %s", self.name, type(exc).__name__)

    def _open_stream(self, client: Any, params: dict[str, Any]) -> Iterator[Any]:
        import openai

        try:
            stream = client.chat.completions.create(**params)
        except openai.BadRequestError as exc:
            if "stream_options" not in params or "stream_options" not in str(exc):
                raise
            log.info("%s: the server refuses stream_options; counting tokens locally", self.name)
            self._stream_options_ok = False
            params = {k: v for k, v in params.items() if k != "stream_options"}
            stream = client.chat.completions.create(**params)
        with stream:
            yield from stream

    def _describe(self, exc: BaseException) -> str:
        """One line saying what went wrong, with anything key-like removed."""
        import openai

        if isinstance(exc, openai.APITimeoutError):
            message = "the request timed out"
        elif isinstance(exc, openai.APIConnectionError) and _is_cut_stream(exc.__cause__ or exc.__context__):
            message = f"the server closed the stream before the answer was complete ({exc.__cause__ or exc.__context__})"
        elif isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f" ({type(cause).__name__}: {cause})" if cause else ""
            message = f"cannot reach the model server at {self._endpoint()}{detail}"
        elif isinstance(exc, openai.AuthenticationError):
            message = f"the server refused the API key (HTTP 401); check {self._key_variable()}"
        elif isinstance(exc, openai.APIStatusError):
            message = f"the server answered HTTP {exc.status_code}: {_server_message(exc)}"
        elif isinstance(exc, (ValueError, openai.APIResponseValidationError)):
            message = f"the server's answer is not valid JSON ({type(exc).__name__})"
        elif _is_cut_stream(exc):
            message = f"the server closed the stream before the answer was complete ({exc})"
        else:
            message = f"the answer stream failed: {type(exc).__name__}: {exc}"
        return one_line(redact(message, self._key.reveal()), limit=240)

    def _completion(self, text: str, outcome: _Outcome, prompt_estimate: int) -> Completion:
        finish = outcome.finish_reason or "stop"
        if finish not in ("stop", "length"):
            finish = "stop" if finish in ("tool_calls", "function_call", "eos") else "length"
        return Completion(
            text=text,
            prompt_tokens=outcome.prompt_tokens if outcome.prompt_tokens is not None else prompt_estimate,
            completion_tokens=(
                outcome.completion_tokens if outcome.completion_tokens is not None else approximate_tokens(text)
            ),
            finish_reason=finish,
        )

    def _endpoint(self) -> str:
        return self._base_url or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"

    def _key_variable(self) -> str:
        return "OPENAI_API_KEY"


class OpenAIBackend(_OpenAIChat):
    """SPEC ``openai:MODEL``; key from OPENAI_API_KEY (or MLOPS_LSP_API_KEY)."""

    def __init__(self, rest: str) -> None:
        model = rest.strip()
        if not model or any(c.isspace() for c in model):
            raise ModelError(f"bad model spec 'openai:{rest}': expected openai:MODEL, e.g. openai:gpt-4o-mini")
        key = os.environ.get("OPENAI_API_KEY") or os.environ.get("MLOPS_LSP_API_KEY")
        if not key:
            raise ModelError("openai:{model} needs an API key: set OPENAI_API_KEY".format(model=model))
        self.name = f"openai:{model}"
        super().__init__(model, None, key, new_token_param=True)


class OpenAICompatibleBackend(_OpenAIChat):
    """SPEC ``openai-compatible:URL#MODEL``; key from MLOPS_LSP_API_KEY, OPENAI_API_KEY, else none."""

    def __init__(self, rest: str) -> None:
        url, sep, model = rest.strip().rpartition("#")
        parsed = urlparse(url)
        if not sep or not model.strip() or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ModelError(
                f"bad model spec 'openai-compatible:{_strip_userinfo(rest)}': expected openai-compatible:URL#MODEL, "
                "e.g. openai-compatible:http://127.0.0.1:11434/v1#qwen2.5-coder"
            )
        if parsed.username or parsed.password:
            raise ModelError("openai-compatible: put the API key in MLOPS_LSP_API_KEY, not in the URL")
        key = os.environ.get("MLOPS_LSP_API_KEY") or os.environ.get("OPENAI_API_KEY") or "not-needed"
        self.name = f"openai-compatible:{url}#{model.strip()}"
        super().__init__(model.strip(), url, key, new_token_param=False)

    def _key_variable(self) -> str:
        return "MLOPS_LSP_API_KEY"


def redact(text: str, secret: str) -> str:
    if secret and len(secret) >= 4:
        text = text.replace(secret, "***")
    return _KEY_PATTERN.sub("***", text)


def _is_cut_stream(exc: BaseException | None) -> bool:
    """A connection that ended inside a response body. Matched by class name: depending on its
    version the openai client runs on httpx or httpx2 (and their httpcore), which share these names."""
    seen = 0
    while exc is not None and seen < 5:
        if type(exc).__name__ in ("RemoteProtocolError", "ReadError", "IncompleteRead"):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _strip_userinfo(text: str) -> str:
    return re.sub(r"//[^/@#]*@", "//***@", text)


def _server_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(body.get("message"), str):
            return body["message"]
    return getattr(exc, "message", None) or type(exc).__name__
