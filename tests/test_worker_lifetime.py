"""Helper subprocesses (model, attribute check, retrieval workers) end when their parent does, even
when their stdin stays open: a crashed editor must not leave a model generating on every core."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

SPAWN = ("import subprocess, sys, time\n"
         "worker = subprocess.Popen([sys.executable, '-m', 'mlops_lsp.attrcheck_worker'])\n"
         "print(worker.pid, flush=True)\n"
         "time.sleep(600)\n")


def _alive(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        state = next(line for line in status.read_text().splitlines() if line.startswith("State:"))
    except (FileNotFoundError, ProcessLookupError):
        return False
    return " Z " not in state + " "  # a zombie has ended


def test_a_worker_ends_when_its_parent_is_killed() -> None:
    # The worker inherits this test's pipe as stdin: killing its parent does not close it.
    parent = subprocess.Popen([sys.executable, "-c", SPAWN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        pid = int(parent.stdout.readline())
        time.sleep(1.0)
        assert _alive(pid)
        parent.kill()
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(pid), "the worker outlived its parent"
    finally:
        parent.kill()
        parent.stdin.close()
        parent.stdout.close()
