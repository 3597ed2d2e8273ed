"""SPEC parsing: every stable form loads (cheaply, without a model), bad forms are one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_lsp.models import BACKENDS, Backend, ModelError, close_backends, load_backend, parse_spec


@pytest.fixture(autouse=True)
def fresh_cache(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-spec-test-key-000000")
    close_backends()
    yield
    close_backends()


def test_valid_forms(tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    cases = {
        "openai:gpt-4o-mini": "openai:gpt-4o-mini",
        "openai-compatible:http://127.0.0.1:11434/v1#qwen2.5-coder:1.5b": "openai-compatible:http://127.0.0.1:11434/v1#qwen2.5-coder:1.5b",
        f"llama-cpp:{gguf}": "llama-cpp:m.gguf",
        f"ctransformers:{gguf}": "ctransformers:m.gguf",
        f"ctransformers:{gguf}#llama": "ctransformers:m.gguf#llama",
    }
    for spec, name in cases.items():
        backend = load_backend(spec)
        assert isinstance(backend, Backend)
        assert backend.name == name
        assert load_backend(spec) is backend  # cached per spec
    assert load_backend(f"llama-cpp:{gguf}").small and not load_backend("openai:gpt-4o-mini").small


def test_replay_maps_lazily_to_the_replay_module() -> None:
    assert BACKENDS["replay"] == "mlops_lsp.models.replay:ReplayBackend"
    assert parse_spec("replay:/tmp/x.json") == ("replay", "/tmp/x.json")


@pytest.mark.parametrize(
    "spec",
    [
        "",
        "gpt-4o",
        "anthropic:claude",
        "openai:",
        "openai:   ",
        "openai-compatible:http://127.0.0.1:8000/v1",
        "openai-compatible:127.0.0.1:8000#qwen",
        "openai-compatible:ftp://host/v1#qwen",
        "openai-compatible:http://127.0.0.1:8000/v1#",
        "openai-compatible:http://user:sk-secret-in-url-123456@host/v1#m",
        "llama-cpp:/no/such/model.gguf",
        "llama-cpp:",
        "ctransformers:/no/such/model.bin",
        "ctransformers:{tmp}/m.gguf#notatype",
    ],
)
def test_bad_forms_are_one_line(spec: str, tmp_path: Path) -> None:
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    with pytest.raises(ModelError) as caught:
        load_backend(spec.format(tmp=tmp_path))
    text = str(caught.value)
    assert text and "\n" not in text
    assert "sk-secret-in-url" not in text
