"""The sandbox: time limit kills the whole process group, output is capped, the environment is
scrubbed, there is no network, and nothing is left behind."""

from __future__ import annotations

import os
import sys
import time
import uuid
from pathlib import Path

import pytest

from mlops_lsp.bench import runner
from mlops_lsp.bench.runner import OUTPUT_CAP_BYTES, Limits, Sandbox


def _running_with(token: str) -> list[int]:
    """Live processes whose command line carries token (pids inside the sandbox's PID namespace
    mean nothing here, so the sandboxed programs are found by what they run)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and token.encode() in (entry / "cmdline").read_bytes() \
                    and (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _sleeper(token: str) -> str:
    return f"[sys.executable, '-c', 'import time; time.sleep(300)', '{token}']"


def test_timeout_kills_the_whole_process_group() -> None:
    token = f"sleeper-{uuid.uuid4().hex}"
    script = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen({_sleeper(token)})\n"
        "print('started', flush=True)\n"
        "time.sleep(300)\n"
    )
    with Sandbox() as sandbox:
        start = time.monotonic()
        run = sandbox.execute([sys.executable, "-c", script], timeout=3, env=sandbox.environment(hook=False))
        assert time.monotonic() - start < 30
    assert run.timed_out and run.exit_code is None and not run.ok
    assert run.failure().startswith("timed out after 3 s; 2 processes running; last output: started")
    assert not _running_with(token)


def test_escaped_daemons_are_killed() -> None:
    # A child in its own session escapes the process group; the PID namespace, the sandbox uid
    # or (basic mode) the marker variable still find it.
    token = f"daemon-{uuid.uuid4().hex}"
    script = (
        "import subprocess, sys\n"
        f"child = subprocess.Popen({_sleeper(token)}, start_new_session=True)\n"
        "print('started')\n"
    )
    with Sandbox() as sandbox:
        run = sandbox.execute([sys.executable, "-c", script], timeout=30, env=sandbox.environment(hook=False))
        assert sandbox.killed_leftovers >= 1 or sandbox.isolated  # namespaces: the kernel killed it first
    assert run.ok, run.stderr
    assert not _running_with(token)


def test_output_beyond_the_limit_kills_the_run() -> None:
    script = "import sys\nwhile True:\n    sys.stdout.write('y' * 4095 + '\\n')\n"
    with Sandbox(limits=Limits(output_bytes=2 << 20)) as sandbox:
        run = sandbox.execute([sys.executable, "-c", script], timeout=60, env=sandbox.environment(hook=False))
    assert not run.ok and run.stopped_by == "output limit (stdout)" and run.seconds < 30
    assert run.failure() == "output limit exceeded: more than 2 MiB on stdout; killed"
    assert len(run.stdout.encode()) <= OUTPUT_CAP_BYTES + 100


def test_output_is_capped_to_its_tail() -> None:
    script = "import sys\nfor i in range(60000):\n    print(f'line {i:06d} ' + 'x' * 40)\nprint('the end')\n"
    with Sandbox() as sandbox:
        run = sandbox.execute([sys.executable, "-c", script], timeout=60, env=sandbox.environment(hook=False))
    assert run.ok
    assert len(run.stdout.encode()) <= OUTPUT_CAP_BYTES + 100
    assert "bytes of output dropped" in run.stdout.splitlines()[0]
    assert run.stdout.rstrip().endswith("the end")
    assert "line 000000" not in run.stdout


def test_environment_is_scrubbed_and_points_into_the_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_API_KEY", "secret-value")
    monkeypatch.setenv("WANDB_API_KEY", "another-secret")
    script = "import json, os\nprint(json.dumps(dict(os.environ)))\n"
    with Sandbox() as sandbox:
        run = sandbox.execute([sys.executable, "-c", script], timeout=60, env=sandbox.environment())
        root = sandbox.root
    import json

    env = json.loads(run.stdout.strip().splitlines()[-1])
    assert "FAKE_API_KEY" not in env and "WANDB_API_KEY" not in env
    assert "secret-value" not in run.stdout
    assert env["HOME"].startswith(str(root)) and env["TMPDIR"].startswith(str(root))
    assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{root}/work/mlflow.db"
    assert env["WANDB_MODE"] == "offline" and env["WANDB_DIR"] == f"{root}/work"
    assert env["MPLBACKEND"] == "Agg" and env["KERAS_BACKEND"] == "torch" and env["DVC_NO_ANALYTICS"] == "1"
    assert "MLOPS_BENCH_REPORT" not in env  # the hook consumed it: child processes never overwrite the report
    assert not root.exists()  # cleaned up


def test_isolation_is_probed_and_namespaces_are_used_as_root() -> None:
    iso = runner.isolation()
    assert iso.description
    if os.geteuid() == 0 and os.environ.get("MLOPS_BENCH_ISOLATION", "auto") == "auto":
        # As root the namespaces must work (the machine supports them); say why if not.
        assert iso.namespaces, iso.reason
    with Sandbox() as sandbox:
        script = "import os\nprint(os.getuid(), os.getpid())\n"
        run = sandbox.execute([sys.executable, "-c", script], timeout=60, env=sandbox.environment(hook=False))
        uid = sandbox.uid
    assert run.ok, run.stderr
    if iso.namespaces:
        assert run.stdout.split() == [str(uid), "2"]  # the sandbox's own uid; PID 2 under the namespace's init
        assert uid >= runner.SANDBOX_UID_BASE


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_no_network_but_loopback_works() -> None:
    script = (
        "import socket\n"
        "server = socket.socket(); server.bind(('127.0.0.1', 0)); server.listen()\n"
        "print('loopback ok')\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 53), timeout=3)\n"
        "    print('network reachable')\n"
        "except OSError as exc:\n"
        "    print('no network:', type(exc).__name__)\n"
    )
    with Sandbox() as sandbox:
        run = sandbox.execute([sys.executable, "-c", script], timeout=60, env=sandbox.environment(hook=False))
    assert "loopback ok" in run.stdout
    assert "no network" in run.stdout, run.stdout


def test_hook_reports_imports_and_commands_and_never_breaks_the_script() -> None:
    script = "import json, subprocess\nsubprocess.run(['true'])\nprint('done')\n"
    with Sandbox() as sandbox:
        run = sandbox.execute([sys.executable, "-c", script], timeout=60, env=sandbox.environment())
        report = sandbox.read_report()
    assert run.ok and run.stdout.strip() == "done"
    assert report is not None and report["errors"] == []
    assert "json" in report["modules"] and "torch" not in report["modules"]
    assert report["commands"] == ["true"]


def test_memory_limit_stops_a_runaway_allocation() -> None:
    script = "blob = bytearray(%d)\nprint('allocated')\n" % (runner.MEMORY_LIMIT_BYTES + (1 << 30))
    with Sandbox() as sandbox:
        run = sandbox.execute([sys.executable, "-c", script], timeout=60, env=sandbox.environment(hook=False))
    assert not run.ok and "MemoryError" in run.stderr


def test_optuna_studies_default_to_the_sandbox_sqlite_storage() -> None:
    from mlops_lsp.bench.checkers.hpo_optuna import studies_from_db

    script = (
        "import optuna\n"
        "study = optuna.create_study(direction='minimize')\n"
        "study.optimize(lambda t: t.suggest_float('lr', 0.0, 1.0) ** 2, n_trials=2)\n"
    )
    with Sandbox() as sandbox:
        run = sandbox.execute([sys.executable, "-c", script], timeout=120, env=sandbox.environment())
        stored = studies_from_db(sandbox.workdir / "optuna.db")
        report = sandbox.read_report()
    assert run.ok, run.stderr
    # Stored in the sandbox's SQLite file, not in memory (the script gave no storage).
    assert [t["params"] for t in stored[0]["trials"]] == [["lr"], ["lr"]]
    (study,) = report["optuna"]["studies"]
    assert [t["state"] for t in study["trials"]] == ["COMPLETE", "COMPLETE"]
