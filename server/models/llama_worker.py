"""llama-cpp-python worker: ``python -m mlops_lsp.models.llama_worker MODEL_PATH``.

Loads the GGUF once and serves chat requests over the JSON-lines protocol of
``mlops_lsp.models.worker_protocol``. The GGUF carries its chat template (Qwen's ChatML), which
``create_chat_completion`` applies. Runs in its own process so the editor never holds the model.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from mlops_lsp.models.worker_protocol import WorkerFatal, serve

N_CTX = 8192
N_THREADS = 2  # the machines have 2 cores; more threads only contend
INSTALL_HINT = (
    "llama-cpp-python is not installed; install it with "
    'CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AMX_TILE=OFF '
    '-DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF" pip install llama-cpp-python==0.3.36'
)


class LlamaEngine:
    def __init__(self, model_path: str) -> None:
        try:
            import llama_cpp
        except ImportError as exc:
            raise WorkerFatal(INSTALL_HINT) from exc
        if not os.path.isfile(model_path):
            raise WorkerFatal(f"model file not found: {model_path}")
        try:
            self._llm = llama_cpp.Llama(model_path=model_path, n_ctx=N_CTX, n_threads=N_THREADS, verbose=False)
        except ValueError as exc:  # llama_cpp's "Failed to load model from file"
            raise WorkerFatal(f"llama.cpp cannot load {model_path}: {exc}") from exc
        self._formatter = _prompt_formatter(llama_cpp, self._llm)

    def chat(
        self, request: dict[str, Any], emit_token: Callable[[str], None], cancelled: Callable[[], bool]
    ) -> tuple[str, int, int]:
        messages = request["messages"]
        prompt_tokens = self._prompt_tokens(messages)
        stream = self._llm.create_chat_completion(
            messages=messages,
            temperature=float(request.get("temperature", 0.2)),
            seed=int(request.get("seed", 0)),
            max_tokens=int(request.get("max_tokens", 512)),
            stop=request.get("stop") or [],
            stream=True,
        )
        parts: list[str] = []
        finish = "length"
        try:
            for chunk in stream:
                if cancelled():
                    finish = "cancelled"
                    break
                choice = chunk["choices"][0]
                text = choice.get("delta", {}).get("content")
                if text:
                    parts.append(text)
                    emit_token(text)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
        finally:
            stream.close()  # stops generation when we leave early
        return finish, prompt_tokens, self.count("".join(parts))

    def count(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)) if text else 0

    def _prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        """The prompt exactly as the chat handler builds it (streamed chunks carry no usage)."""
        if self._formatter is None:
            return sum(self.count(m.get("content", "")) for m in messages)
        formatted = self._formatter(messages=messages)
        tokens = self._llm.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        return len(tokens)


def _prompt_formatter(llama_cpp: Any, llm: Any) -> Any:
    """The same Jinja2 formatter llama_cpp builds from the GGUF's template, or None without one."""
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return None
    from llama_cpp import llama_chat_format

    eos_id, bos_id = llm.token_eos(), llm.token_bos()
    return llama_chat_format.Jinja2ChatFormatter(
        template=template,
        eos_token=llm._model.token_get_text(eos_id) if eos_id != -1 else "",
        bos_token=llm._model.token_get_text(bos_id) if bos_id != -1 else "",
        stop_token_ids=[eos_id],
    )


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mlops_lsp.models.llama_worker MODEL_PATH", file=sys.stderr)
        return 2
    return serve(args[0], lambda: LlamaEngine(args[0]))


if __name__ == "__main__":
    sys.exit(main())
