"""ctransformers worker: ``python -m mlops_lsp.models.ctransformers_worker MODEL_PATH [MODEL_TYPE]``.

ctransformers (0.2.27, GGML) runs in a worker subprocess like llama.cpp: its native code can take
the process down on a file it does not understand, and generation must not block the editor.
It loads GGUF only for llama-architecture models, and GGML files of the types in
``SUPPORTED_TYPES``; anything else (e.g. Qwen2) fails with one line saying so.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Callable
from typing import Any

from mlops_lsp.models.worker_protocol import WorkerFatal, serve

SUPPORTED_TYPES = (
    "llama", "gpt2", "gptj", "gpt4all-j", "gpt_neox", "stablelm", "dolly-v2", "replit",
    "starcoder", "starchat", "falcon", "mpt",
)  # fmt: skip
CAPABILITY = "it loads GGUF llama models and GGML models of type " + ", ".join(SUPPORTED_TYPES)
CONTEXT_LENGTH = 4096
THREADS = 2


class CTransformersEngine:
    def __init__(self, model_path: str, model_type: str | None) -> None:
        try:
            from ctransformers import AutoModelForCausalLM
        except ImportError as exc:
            raise WorkerFatal("ctransformers is not installed; install it with: pip install ctransformers==0.2.27") from exc
        if not os.path.isfile(model_path):
            raise WorkerFatal(f"model file not found: {model_path}")
        architecture = gguf_architecture(model_path)
        try:
            self._llm = AutoModelForCausalLM.from_pretrained(
                model_path,
                model_type=model_type,
                context_length=CONTEXT_LENGTH,
                threads=THREADS,
            )
        except Exception as exc:  # ctransformers raises RuntimeError/ValueError for what it cannot load
            print(f"ctransformers: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)  # detail for the log
            what = f"GGUF architecture {architecture}" if architecture else f"model type {model_type or 'not given'}"
            raise WorkerFatal(f"ctransformers cannot load this model ({what}); {CAPABILITY}") from exc

    def chat(
        self, request: dict[str, Any], emit_token: Callable[[str], None], cancelled: Callable[[], bool]
    ) -> tuple[str, int, int]:
        prompt = format_prompt(request["messages"])
        max_tokens = int(request.get("max_tokens", 512))
        temperature = float(request.get("temperature", 0.2))
        parts: list[str] = []
        finish = "stop"
        stream = self._llm(
            prompt,
            max_new_tokens=max_tokens,
            temperature=max(temperature, 1e-4),
            top_k=1 if temperature <= 0 else 40,  # temperature 0 means greedy
            seed=int(request.get("seed", 0)),
            stop=request.get("stop") or None,
            stream=True,
        )
        for text in stream:
            if cancelled():
                finish = "cancelled"
                break
            if text:
                parts.append(text)
                emit_token(text)
        completion_tokens = self.count("".join(parts))
        if finish != "cancelled" and completion_tokens >= max_tokens:
            finish = "length"
        return finish, self.count(prompt), completion_tokens

    def count(self, text: str) -> int:
        return len(self._llm.tokenize(text)) if text else 0


def format_prompt(messages: list[dict[str, str]]) -> str:
    """A plain instruction layout: GGML files carry no chat template."""
    sections = []
    for message in messages:
        role = message.get("role", "user")
        heading = {"system": "System", "assistant": "Assistant"}.get(role, "User")
        sections.append(f"### {heading}:\n{message.get('content', '')}")
    return "\n\n".join(sections) + "\n\n### Assistant:\n"


def gguf_architecture(path: str) -> str | None:
    """``general.architecture`` from a GGUF header, or None for other files (GGML) or odd headers."""
    scalar_sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    try:
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                return None
            _version, _tensors, kv_count = struct.unpack("<IQQ", f.read(20))
            for _ in range(min(kv_count, 64)):
                key = f.read(struct.unpack("<Q", f.read(8))[0]).decode("utf-8", "replace")
                value_type = struct.unpack("<I", f.read(4))[0]
                if value_type == 8:  # string
                    value = f.read(struct.unpack("<Q", f.read(8))[0]).decode("utf-8", "replace")
                    if key == "general.architecture":
                        return value
                elif value_type in scalar_sizes:
                    f.read(scalar_sizes[value_type])
                else:
                    return None  # arrays come after the architecture in practice; stop rather than parse them
    except (OSError, struct.error):
        return None
    return None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (1, 2):
        print("usage: python -m mlops_lsp.models.ctransformers_worker MODEL_PATH [MODEL_TYPE]", file=sys.stderr)
        return 2
    model_type = args[1] if len(args) == 2 else None
    return serve(args[0], lambda: CTransformersEngine(args[0], model_type))


if __name__ == "__main__":
    sys.exit(main())
