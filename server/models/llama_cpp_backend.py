"""SPEC ``llama-cpp:/path/model.gguf``: llama-cpp-python in a worker subprocess.

The model never loads in the editor process: ``mlops_lsp.models.llama_worker`` holds it and is
kept alive between requests (see ``worker_client`` for cancel, timeout and crash handling).
"""

from __future__ import annotations

import os

from mlops_lsp.models import ModelError
from mlops_lsp.models.worker_client import WorkerBackend


class LlamaCppBackend(WorkerBackend):
    worker_module = "mlops_lsp.models.llama_worker"

    def __init__(self, rest: str) -> None:
        path = os.path.abspath(os.path.expanduser(rest.strip()))
        if not os.path.isfile(path):
            raise ModelError(f"llama-cpp: model file not found: {path}")
        self.name = f"llama-cpp:{os.path.basename(path)}"
        super().__init__(path, [])
