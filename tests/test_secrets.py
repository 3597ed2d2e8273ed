"""API keys in the caller's environment never reach results, reports, logs, stderr or a sample's sandbox.

The bench runs as a user runs it (`python -m mlops_lsp bench`, a subprocess) with fake keys in its
environment. Besides the bundled sklearn-tree-regression case, the dataset holds an "env-dump"
case whose gold adaptation (a correct MLflow tracking adaptation) also prints its environment and
every /proc/*/environ it can read: the bench's own worker processes carry the keys, so this is
what a hostile adapted script would try. The second test drives the `llm` strategy (a real
language-server session and the real openai-compatible backend) against a local fake endpoint,
which proves the key is really used, while it must still appear nowhere in what is written.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.models.fake_openai_server import FakeOpenAI

ROOT = Path(__file__).resolve().parents[1]
TAG = uuid.uuid4().hex[:16]
FAKE_KEYS = {
    "OPENAI_API_KEY": f"sk-test-{TAG}-openai",
    "MLOPS_LSP_API_KEY": f"sk-test-{TAG}-mlops",
    "WANDB_API_KEY": f"{TAG}wandbkey0123456789abcdef",
    "AWS_SECRET_ACCESS_KEY": f"aws/{TAG}/secret",
    "GITHUB_TOKEN": f"ghp_{TAG}",
    "HF_TOKEN": f"hf_{TAG}",
}

ENV_DUMP_ORIGINAL = '''\
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

X, y = load_diabetes(return_X_y=True)
model = Ridge(alpha=0.5).fit(X, y)
print(f"final r2: {model.score(X, y):.4f}")
'''

ENV_DUMP_GOLD = '''\
import json
import os

import mlflow
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

with mlflow.start_run():
    mlflow.log_param("alpha", 0.5)
    X, y = load_diabetes(return_X_y=True)
    model = Ridge(alpha=0.5).fit(X, y)
    mlflow.log_metric("r2", model.score(X, y))

# What a hostile script would look for: its own environment and every other process's.
readable = {}
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                readable[entry] = f.read().decode(errors="replace")
        except OSError:
            pass
print("ENV-DUMP " + json.dumps({"env": dict(os.environ), "proc": readable}))
print(f"final r2: {model.score(X, y):.4f}")
'''


def _dataset(root: Path) -> Path:
    shutil.copytree(ROOT / "dataset" / "sklearn-tree-regression", root / "sklearn-tree-regression")
    case = root / "env-dump"
    (case / "gold").mkdir(parents=True)
    (case / "train.py").write_text(ENV_DUMP_ORIGINAL, encoding="utf-8")
    (case / "gold" / "tracking.mlflow.py").write_text(ENV_DUMP_GOLD, encoding="utf-8")
    (case / "case.toml").write_text('framework = "sklearn"\nactions = ["tracking.mlflow"]\nargs = []\ntimeout = 120\n',
                                    encoding="utf-8")
    return root


def _bench(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **FAKE_KEYS}
    return subprocess.run([sys.executable, "-m", "mlops_lsp", "bench", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


def _leaks(text: str) -> list[str]:
    return [name for name, value in FAKE_KEYS.items() if value in text]


def _assert_nothing_written_leaks(out: Path, run: subprocess.CompletedProcess[str]) -> list[Path]:
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "results.json" for p in files) and any(p.name == "report.md" for p in files)
    for path in files:
        leaked = _leaks(path.read_bytes().decode("utf-8", errors="replace"))
        assert not leaked, f"{leaked} in {path}"
    assert not _leaks(run.stdout), "a key on the bench's stdout"
    assert not _leaks(run.stderr), "a key on the bench's stderr"
    return files


def _env_dump(out: Path) -> dict:
    """The env-dump sample's printed environment, from the sample record's stdout tail."""
    for path in out.rglob("*.json"):
        record = json.loads(path.read_text(encoding="utf-8")) if path.stat().st_size < 5_000_000 else {}
        if isinstance(record, dict) and record.get("case") == "env-dump":
            tail = (record.get("logs") or {}).get("stdout_tail", "")
            lines = [line for line in tail.splitlines() if line.startswith("ENV-DUMP ")]
            if lines:
                return json.loads(lines[-1][len("ENV-DUMP "):])
    raise AssertionError("the env-dump sample's printed environment is in no sample record")


def _assert_sandbox_saw_no_key(dump: dict) -> None:
    assert not _leaks(json.dumps(dump))
    names = set(dump["env"])
    assert not names & set(FAKE_KEYS)
    assert not [n for n in names if n.endswith(("_KEY", "_TOKEN", "_SECRET")) or n.startswith("AWS_")]


def test_gold_bench_writes_no_key_and_the_sandbox_sees_none(tmp_path: Path) -> None:
    dataset, out = _dataset(tmp_path / "dataset"), tmp_path / "out"
    run = _bench("--dataset", dataset, "--strategy", "gold", "--cases", "sklearn-tree-regression", "env-dump",
                 "--actions", "tracking.mlflow", "--out", out, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    outcome = {s["case"]: s["passed"] for s in results["samples"]}
    assert outcome == {"sklearn-tree-regression": True, "env-dump": True}, results["samples"]
    _assert_nothing_written_leaks(out, run)
    _assert_sandbox_saw_no_key(_env_dump(out))


def test_llm_bench_uses_the_key_but_never_writes_it(tmp_path: Path) -> None:
    dataset, out = _dataset(tmp_path / "dataset"), tmp_path / "out"
    with FakeOpenAI() as fake:
        fake.answer(f"<<<<<<< SEARCH\n{ENV_DUMP_ORIGINAL}=======\n{ENV_DUMP_GOLD}>>>>>>> REPLACE\n")
        run = _bench("--dataset", dataset, "--strategy", "llm", "--model", f"openai-compatible:{fake.base_url}#fake",
                     "--retrieval", "none", "--cases", "env-dump", "--actions", "tracking.mlflow", "--out", out,
                     cwd=tmp_path)
        sent = [r.headers.get("authorization", "") for r in fake.requests]
    assert run.returncode == 0, run.stderr[-2000:]
    # The key really was in use (sent to the endpoint), so its absence below means something.
    assert sent and all(h == f"Bearer {FAKE_KEYS['MLOPS_LSP_API_KEY']}" for h in sent), sent
    files = _assert_nothing_written_leaks(out, run)
    assert any(p.name == "server.log" for p in files)  # the language server's log was checked too
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [s["passed"] for s in results["samples"]] == [True], results["samples"]
    _assert_sandbox_saw_no_key(_env_dump(out))


@pytest.mark.parametrize("name", sorted(FAKE_KEYS))
def test_the_sandbox_environment_is_built_without_the_callers_keys(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_lsp.bench.runner import Sandbox

    monkeypatch.setenv(name, FAKE_KEYS[name])
    with Sandbox() as sandbox:
        for hook in (True, False):
            env = sandbox.environment(hook=hook)
            assert name not in env and FAKE_KEYS[name] not in json.dumps(env)
