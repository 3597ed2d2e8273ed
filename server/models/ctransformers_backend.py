"""SPEC ``ctransformers:/path/model[#model_type]``: ctransformers 0.2.27 in a worker subprocess.

Why a worker and not in-process: ctransformers is native code that can crash the process on a file
it does not understand and holds the model's memory; the editor must survive both. The worker is
the same protocol as llama.cpp's (``worker_protocol``), so cancel/timeout/crash behave the same.
"""

from __future__ import annotations

import os

from mlops_lsp.models import ModelError
from mlops_lsp.models.ctransformers_worker import SUPPORTED_TYPES
from mlops_lsp.models.worker_client import WorkerBackend


class CTransformersBackend(WorkerBackend):
    worker_module = "mlops_lsp.models.ctransformers_worker"

    def __init__(self, rest: str) -> None:
        path_text, _, model_type = rest.strip().partition("#")
        path = os.path.abspath(os.path.expanduser(path_text.strip()))
        model_type = model_type.strip()
        if model_type and model_type not in SUPPORTED_TYPES:
            raise ModelError(
                f"ctransformers: unsupported model type {model_type!r}; it loads: {', '.join(SUPPORTED_TYPES)} "
                "(GGUF only for llama)"
            )
        if not os.path.isfile(path):
            raise ModelError(f"ctransformers: model file not found: {path}")
        self.name = f"ctransformers:{os.path.basename(path)}" + (f"#{model_type}" if model_type else "")
        super().__init__(path, [model_type] if model_type else [])
