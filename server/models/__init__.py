"""Model backends: one small interface over hosted APIs and local models.

A model is named by a SPEC (stable, see docs/dev/MODEL_PATH.md):

    openai:MODEL                        the OpenAI API; key from OPENAI_API_KEY (or MLOPS_LSP_API_KEY)
    openai-compatible:URL#MODEL         Ollama, vLLM, llama.cpp server...; key from MLOPS_LSP_API_KEY
                                        (or OPENAI_API_KEY, else none)
    llama-cpp:/path/model.gguf          llama-cpp-python in a worker subprocess
    ctransformers:/path/model[#type]    ctransformers (GGML/GGUF llama, gpt2, starcoder...) in a worker
    replay:/path/recorded.json          recorded responses (tests and benchmarks without a model)

``load_backend(spec)`` returns a ``Backend`` cached per spec for the life of the process, so local
workers stay loaded between requests. Nothing heavy is imported here: each implementation is
imported only when its spec is first loaded.

Errors: every failure (bad spec, missing package, timeout, connection error, HTTP error, malformed
answer, stream cut early, worker crash) is a ``ModelError`` whose message is one line meant for the
user and never contains an API key. Cancellation is NOT an error: ``chat`` returns the text produced
so far in a ``Completion`` whose ``finish_reason`` is ``"cancelled"``.
"""

from __future__ import annotations

import atexit
import importlib
import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

# Used when a caller passes timeout=None: long enough for a slow local model writing a whole
# training script, short enough that a stuck server cannot block the editor forever.
DEFAULT_TIMEOUT_SECONDS = 600.0

# SPEC prefix -> "module:Class". Data, so that a new backend is one line; each class is built with
# the rest of the spec (the text after "prefix:") and must validate it cheaply, without loading a model.
BACKENDS: dict[str, str] = {
    "openai": "mlops_lsp.models.openai_backend:OpenAIBackend",
    "openai-compatible": "mlops_lsp.models.openai_backend:OpenAICompatibleBackend",
    "llama-cpp": "mlops_lsp.models.llama_cpp_backend:LlamaCppBackend",
    "ctransformers": "mlops_lsp.models.ctransformers_backend:CTransformersBackend",
    "replay": "mlops_lsp.models.replay:ReplayBackend",
}

SPEC_FORMS = (
    "openai:MODEL, openai-compatible:URL#MODEL, llama-cpp:/path/model.gguf, "
    "ctransformers:/path/model[#model_type], replay:/path/recorded.json"
)

FINISH_REASONS = ("stop", "length", "cancelled")


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" | "length" | "cancelled"


class ModelError(Exception):
    """One-line, user-facing message; never contains an API key."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


@runtime_checkable
class Backend(Protocol):
    name: str  # e.g. "llama-cpp:qwen2.5-coder-1.5b-instruct-q4_k_m.gguf" (no secrets)
    small: bool  # True for small local models (they get the region edit format)

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
    ) -> Completion: ...

    def count_tokens(self, text: str) -> int: ...

    def close(self) -> None: ...


_cache: dict[str, Backend] = {}
_cache_lock = threading.Lock()


def load_backend(spec: str) -> Backend:
    """The backend for SPEC, created on first use and cached for the process."""
    spec = spec.strip()
    with _cache_lock:
        backend = _cache.get(spec)
        if backend is None:
            backend = _create(spec)
            _cache[spec] = backend
        return backend


def close_backends() -> None:
    """Close every cached backend (stops local workers); later loads start afresh."""
    with _cache_lock:
        backends = list(_cache.values())
        _cache.clear()
    for backend in backends:
        try:
            backend.close()
        except Exception as exc:  # closing must not hide the other backends' cleanup
            log.warning("closing model backend %s failed: %s", backend.name, one_line(str(exc)))


atexit.register(close_backends)


def parse_spec(spec: str) -> tuple[str, str]:
    """Split SPEC into (prefix, rest); raises ModelError for an unknown or empty form."""
    prefix, sep, rest = spec.strip().partition(":")
    if not sep or prefix not in BACKENDS:
        shown = spec if len(spec) <= 80 else spec[:77] + "..."
        raise ModelError(f"bad model spec {shown!r}: expected one of {SPEC_FORMS}")
    if not rest.strip():
        raise ModelError(f"bad model spec {spec!r}: nothing after '{prefix}:' (forms: {SPEC_FORMS})")
    return prefix, rest.strip()


def _create(spec: str) -> Backend:
    prefix, rest = parse_spec(spec)
    module_name, _, class_name = BACKENDS[prefix].partition(":")
    try:
        module = importlib.import_module(module_name)
        cls = getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        raise ModelError(f"the {prefix} backend is not available in this installation: {exc}") from exc
    return cls(rest)


def one_line(message: str, limit: int = 300) -> str:
    """Collapse whitespace to one line and bound its length."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def approximate_tokens(text: str) -> int:
    """Token count without a tokenizer. Qwen2.5-Coder averages ~4 characters per token on the
    dataset's training scripts; dividing by 3.5 errs high, the safe side when fitting a context."""
    return math.ceil(len(text) / 3.5) if text else 0


def approximate_prompt_tokens(messages: list[dict[str, str]]) -> int:
    # ~4 tokens of chat-template framing per message (role markers, separators)
    return sum(approximate_tokens(m.get("content", "")) + 4 for m in messages)
