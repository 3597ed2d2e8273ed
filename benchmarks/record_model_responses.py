"""Record real model responses for the model engine's replay tests.

    python benchmarks/record_model_responses.py [--model SPEC] [--only NAME ...] [--out tests/data/recorded]

Each scenario runs the model engine (``mlops_lsp.engines.llm``) on one dataset script and action
with a recording wrapper around the real backend; ``tests/data/recorded/<name>.json`` gets every
request's exact messages and the response. ``replay:<file>`` then answers the same requests.

Two scenarios INJECT a bad first answer (marked ``"injected"`` in the file) so that the repair path
is covered deterministically: ``no-fence`` replaces the first answer by prose with half the code and
no fence; ``bad-attr`` renames ``mlflow.start_run`` to the non-existent ``mlflow.begin_run``. The
repair answers are the real model's.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "llama-cpp:/root/.cache/mlops-lsp/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


@dataclass(frozen=True)
class Scenario:
    name: str
    case: str  # a dataset case id, or a .py path relative to the repository
    action: str
    edit_format: str = "region"
    inject: str | None = None  # None | "no-fence" | "bad-attr" | "copy-example"
    repair_rounds: int = 2
    temperature: float = 0.0
    seed: int = 0


SCENARIOS = [
    Scenario("svm-digits-mlflow-region", "sklearn-svm-digits", "tracking.mlflow"),
    Scenario("svm-digits-mlflow-nofence", "sklearn-svm-digits", "tracking.mlflow", inject="no-fence"),
    Scenario("svm-digits-mlflow-badattr", "sklearn-svm-digits", "tracking.mlflow", inject="bad-attr"),
    Scenario("sklearn-tree-mlflow-whole", "sklearn-tree-regression", "tracking.mlflow", edit_format="whole"),
    Scenario("regression-mlp-wandb-region", "pytorch-regression-mlp", "tracking.wandb"),
    # The codemod declines this one (the script already uses MLflow): the `auto` fallback test.
    Scenario("short-partial-mlflow", "tests/data/llm/short_sklearn_partial.py", "tracking.mlflow"),
    # The model answers with the one-shot example's script (seen from Qwen at T 0.2 with session 3's prompts;
    # injected since the prompts changed): the engine asks again without the example.
    Scenario("keras-regression-mlflow-copies", "keras-regression", "tracking.mlflow", inject="copy-example"),
    # The bench's setting (T 0.2, seed 0) where Qwen hands the NNCF script back unchanged (session 5):
    # the engine draws the request again, hotter; left-out data statements are put back.
    Scenario("regression-mlp-nncf-resample", "pytorch-regression-mlp", "pruning.nncf", edit_format="auto",
             temperature=0.2),
    # A translation a group of statements at a time (the `hunks` format a small model gets for translations),
    # at the bench's setting: a replacement sent back (DvcRepo.init copied into a second function) and repaired.
    Scenario("lfs-remote-push-dvc-hunks", "git-lfs-remote-push", "translate.gitpython-dvc", edit_format="auto",
             temperature=0.2),
    # Only the training lines rewritten (the `hunks` format a small model gets for inline actions that add to the
    # training), at the bench's setting: the lines handed back unchanged (drawn again, hotter), then only the lines
    # to add after them, then a repair round for MLflow 3's tree models.
    Scenario("sklearn-tree-registry-training", "sklearn-tree-regression", "registry.mlflow", edit_format="auto",
             temperature=0.2),
]


def _corrupt(text: str, how: str, messages: list[dict[str, str]]) -> str:
    if how == "copy-example":
        shown = [m["content"] for m in messages if m["role"] == "assistant"]
        if not shown:
            raise SystemExit("copy-example injection: the request shows no example")
        return shown[0]
    if how == "no-fence":
        body = text.split("```python", 1)[-1].split("```", 1)[0].strip("\n").splitlines()
        return "Sure! Here is the updated code with MLflow tracking:\n\n" + "\n".join(body[: max(1, len(body) // 2)])
    if how == "bad-attr":
        if "mlflow.start_run(" not in text:
            raise SystemExit("bad-attr injection: the real answer has no mlflow.start_run( to rename; re-run")
        return text.replace("mlflow.start_run(", "mlflow.begin_run(", 1)
    raise ValueError(how)


class DirectLlama:
    """Fallback when the llama-cpp backend of ``mlops_lsp.models`` is not there: llama_cpp in this
    (recording) process, never in the server."""

    small = True

    def __init__(self, path: str) -> None:
        from llama_cpp import Llama

        self.name = f"llama-cpp:{Path(path).name}"
        self.llm = Llama(model_path=path, n_ctx=8192, n_threads=2, verbose=False)

    def chat(self, messages: list[dict[str, str]], *, temperature: float, seed: int, max_tokens: int,
             stop: list[str] | None = None, on_token: Callable[[str], None] | None = None, cancel: Any = None,
             timeout: float | None = None) -> Any:
        from mlops_lsp.models import Completion

        answer = self.llm.create_chat_completion(messages=messages, temperature=temperature, seed=seed,
                                                 max_tokens=max_tokens, stop=stop)
        usage = answer["usage"]
        return Completion(answer["choices"][0]["message"]["content"] or "", usage["prompt_tokens"],
                          usage["completion_tokens"], answer["choices"][0]["finish_reason"] or "stop")

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False))

    def close(self) -> None:
        pass


def _known_key(key: str, params: dict[str, Any]) -> tuple[str, float, int]:
    """A response is reused only for the same request drawn with the same temperature and seed (a
    resample repeats the request, hotter)."""
    return key, float(params.get("temperature", 0.0)), int(params.get("seed", 0))


class Recorder:
    """Wraps a backend; keeps each exchange (and injects a bad first answer when asked)."""

    def __init__(self, backend: Any, inject: str | None, known: dict[tuple[str, float, int], dict[str, Any]] | None = None) -> None:
        self.backend = backend
        self.known = known or {}  # real responses already recorded, by request key (saves model time)
        self.inject = inject
        self.name = backend.name
        self.small = backend.small
        self.exchanges: list[dict[str, Any]] = []

    def chat(self, messages: list[dict[str, str]], **kwargs: Any) -> Any:
        from mlops_lsp.models import Completion
        from mlops_lsp.models.replay import messages_key

        started = time.monotonic()
        key = messages_key(messages)
        known_key = _known_key(key, kwargs)
        if known_key in self.known:
            old = self.known[known_key]["completion"]
            completion = Completion(old["text"], old["prompt_tokens"], old["completion_tokens"], old["finish_reason"])
        else:
            completion = self.backend.chat(messages, **kwargs)
        seconds = time.monotonic() - started if known_key not in self.known else self.known[known_key].get("seconds", 0.0)
        injected = None
        if self.inject and not self.exchanges:
            completion = Completion(_corrupt(completion.text, self.inject, messages), completion.prompt_tokens,
                                    completion.completion_tokens, completion.finish_reason)
            injected = self.inject
        self.exchanges.append({
            "key": key, "messages": messages,
            "params": {k: v for k, v in kwargs.items() if k in ("temperature", "seed", "max_tokens")},
            "completion": {"text": completion.text, "prompt_tokens": completion.prompt_tokens,
                           "completion_tokens": completion.completion_tokens,
                           "finish_reason": completion.finish_reason},
            "injected": injected, "seconds": round(seconds, 1)})
        print(f"  call {len(self.exchanges)}: {completion.prompt_tokens} prompt + {completion.completion_tokens} "
              f"completion tokens, {seconds:.1f} s{' (injected: ' + injected + ')' if injected else ''}", file=sys.stderr)
        return completion

    def count_tokens(self, text: str) -> int:
        return self.backend.count_tokens(text)

    def close(self) -> None:
        pass


def _backend(spec: str) -> Any:
    from mlops_lsp.models import ModelError, load_backend

    try:
        return load_backend(spec)
    except ModelError as exc:
        if spec.startswith("llama-cpp:") and "not available" in str(exc):
            print(f"({exc}; using llama_cpp directly)", file=sys.stderr)
            return DirectLlama(spec.removeprefix("llama-cpp:"))
        raise


def record(scenario: Scenario, backend: Any, spec: str, out: Path, wrap: bool = True) -> dict[str, Any]:
    import libcst

    from mlops_lsp.actions import get
    from mlops_lsp.detect import detect
    from mlops_lsp.engines import llm
    from mlops_lsp.options import Options

    path = ROOT / scenario.case if scenario.case.endswith(".py") else ROOT / "dataset" / scenario.case / "train.py"
    source = path.read_text(encoding="utf-8")
    options = Options(strategy="llm", model=f"replay:{out / (scenario.name + '.json')}", retrieval="none",
                      temperature=scenario.temperature, seed=scenario.seed, repair_rounds=scenario.repair_rounds,
                      edit_format=scenario.edit_format, timeout=900.0)  # type: ignore[arg-type]
    known = {}
    for path in out.glob("*.json"):
        for exchange in json.loads(path.read_text(encoding="utf-8")).get("exchanges", []):
            if not exchange.get("injected"):
                known[_known_key(exchange["key"], exchange["params"])] = exchange
    recorder = Recorder(backend, scenario.inject, known) if wrap else backend
    started = time.monotonic()
    outcome = llm.run_with_backend(recorder, libcst.parse_module(source), get(scenario.action), detect(source), options,
                                   progress=lambda _m: None)
    data = {"model": spec, "small": getattr(backend, "small", True), "scenario": scenario.__dict__,
            "options": {"retrieval": options.retrieval, "temperature": options.temperature, "seed": options.seed,
                        "repair_rounds": options.repair_rounds, "edit_format": options.edit_format},
            "outcome": {"status": outcome.status, "reason": outcome.reason, "tokens": outcome.tokens,
                        "seconds": round(time.monotonic() - started, 1)},
            "exchanges": recorder.exchanges}
    (out / f"{scenario.name}.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return data


class _Scripted:
    """Answers from a list (for :func:`derive_badattr`); never a real model."""

    name = "scripted"
    small = True

    def __init__(self, answers: list[dict[str, Any]]) -> None:
        self.answers = list(answers)

    def chat(self, messages: list[dict[str, str]], **kwargs: Any) -> Any:
        from mlops_lsp.models import Completion

        answer = self.answers.pop(0)
        return Completion(answer["text"], answer["prompt_tokens"], answer["completion_tokens"], answer["finish_reason"])

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 3)

    def close(self) -> None:
        pass


def derive_badattr(out: Path) -> None:
    """``svm-digits-mlflow-badattr`` without a model: the real answer of ``svm-digits-mlflow-region``
    that passed, with ``mlflow.start_run`` renamed (injected), then that real answer unmodified as
    the repair answer (marked). Exercises the repair loop deterministically."""
    region = json.loads((out / "svm-digits-mlflow-region.json").read_text(encoding="utf-8"))
    real = region["exchanges"][-1]["completion"]  # the answer that passed
    bad = dict(real, text=_corrupt(real["text"], "bad-attr", []))
    scenario = next(s for s in SCENARIOS if s.name == "svm-digits-mlflow-badattr")
    recorder = Recorder(_Scripted([bad, real]), None)
    data = record(scenario, recorder, region["model"], out, wrap=False)
    data["exchanges"][0]["injected"] = "bad-attr"
    data["exchanges"][1]["injected"] = ("hand-written: the real model's answer of svm-digits-mlflow-region stands in "
                                        "for the repair answer (derived without a model)")
    (out / f"{scenario.name}.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--only", nargs="*", help="scenario names (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "recorded")
    parser.add_argument("--derive-badattr", action="store_true",
                        help="write svm-digits-mlflow-badattr.json from the region recording, without a model")
    args = parser.parse_args(argv)
    if args.derive_badattr:
        derive_badattr(args.out)
        return 0
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    if not chosen:
        parser.error(f"no such scenario; known: {', '.join(s.name for s in SCENARIOS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    backend = _backend(args.model)
    for scenario in chosen:
        print(f"{scenario.name}: {scenario.case} / {scenario.action} ({scenario.edit_format})", file=sys.stderr)
        data = record(scenario, backend, args.model, args.out)
        print(f"  -> {data['outcome']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
