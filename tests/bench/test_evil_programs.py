"""Hostile "adapted scripts" run through the real runner (`run_sample`, as the bench runs a sample).

Each program must be contained (time, memory, process count, output caps, process tree kill,
no network, read-only outside the sandbox, scrubbed environment), recorded as that sample's
failure with a reason naming the limit, and leave the machine clean: no process carrying this
module's token, no file outside the sandbox, no sandbox directory left. A normal sample after them
still passes. Limits are tiny so that an escape would stay small on a shared machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from benchdata import GOLD_TRACKING_MLFLOW, write_case
from mlops_lsp.bench import runner
from mlops_lsp.bench.dataset import Case, load_case
from mlops_lsp.bench.runner import Limits, SampleRun, run_sample

TOKEN = f"evil{uuid.uuid4().hex[:12]}"  # in every evil process's command line, and in every file name
REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 4  # seconds, the evil case's timeout
LIMITS = Limits(memory_bytes=256 << 20, file_size_bytes=16 << 20, processes=64, output_bytes=4 << 20,
                shm_bytes=16 << 20)
FAKE_SECRETS = {
    "OPENAI_API_KEY": f"sk-test-{TOKEN}-openai",
    "MLOPS_LSP_API_KEY": f"mlops-{TOKEN}-lsp",
    "WANDB_API_KEY": f"wandb{TOKEN}secret",
    "AWS_ACCESS_KEY_ID": f"AKIA{TOKEN.upper()}",
    "AWS_SECRET_ACCESS_KEY": f"aws-{TOKEN}-secret",
    "HF_TOKEN": f"hf_{TOKEN}",
    "GITHUB_TOKEN": f"ghp_{TOKEN}",
    "SOME_SERVICE_SECRET": f"svc-{TOKEN}-secret",
}
# Where a script might try to leave files: the caller's real home, shared temp dirs, the repo.
OUTSIDE = [Path.home() / f"{TOKEN}.txt", Path("/tmp") / f"{TOKEN}.txt", Path("/var/tmp") / f"{TOKEN}.txt",
           Path("/dev/shm") / f"{TOKEN}.txt", REPO / f"{TOKEN}.txt", REPO / "tests" / f"{TOKEN}.txt"]

ORIGINAL = 'import sys\nprint("final result: 42")\n'


def _isolated() -> bool:
    return runner.isolation().namespaces


# ----------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def sandbox_parent() -> Path:
    """Sandboxes of this module are created here, so that none may be left behind unnoticed.

    Under /tmp, world-traversable: the sandbox's own uid must be able to reach its directory.
    """
    parent = Path(tempfile.mkdtemp(prefix="mlops-evil-suite-"))
    parent.chmod(0o711)
    yield parent
    leftovers = list(parent.iterdir())
    subprocess.run(["rm", "-rf", str(parent)], check=False)
    assert not leftovers, f"sandbox directories left behind: {leftovers}"


@pytest.fixture(scope="module")
def evil_case(tmp_path_factory) -> Case:
    case_dir = tmp_path_factory.mktemp("dataset") / "evil-target"
    case_dir.mkdir()
    (case_dir / "train.py").write_text(ORIGINAL, encoding="utf-8")
    (case_dir / "case.toml").write_text(
        f'framework = "sklearn"\nactions = ["tracking.mlflow"]\nargs = ["{TOKEN}"]\ntimeout = {TIMEOUT}\n',
        encoding="utf-8")
    return load_case(case_dir)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("baseline-cache")


def _token_processes() -> list[int]:
    """Processes whose command line carries this module's token (every evil program's does)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if TOKEN.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def machine_left_clean(sandbox_parent: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(tempfile, "tempdir", str(sandbox_parent))
    yield
    strays = _token_processes()
    for pid in strays:  # never leave them running, even when the test fails
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    written = [p for p in OUTSIDE if p.exists()]
    for path in written:
        path.unlink()
    sandboxes = list(sandbox_parent.iterdir())
    assert not strays, f"stray processes left running: {strays}"
    assert not written, f"files written outside the sandbox: {written}"
    assert not sandboxes, f"sandbox directories left behind: {sandboxes}"


def _run(case: Case, cache_dir: Path, source: str) -> SampleRun:
    start = time.monotonic()
    sample = run_sample(case, "tracking.mlflow", textwrap.dedent(source), cache_dir=cache_dir, timeout_scale=1.0,
                        limits=LIMITS)
    # The time limit plus the kill and a probe at most: never the program's own (endless) time.
    assert time.monotonic() - start < TIMEOUT + 30
    assert not sample.passed
    return sample


# ----------------------------------------------------------------------------------- programs


def test_fork_bomb_is_held_at_the_process_limit(evil_case: Case, cache_dir: Path) -> None:
    if not _isolated() and os.geteuid() == 0:
        pytest.skip("without a sandbox uid, RLIMIT_NPROC does not apply to root: a fork bomb would not be held")
    sample = _run(evil_case, cache_dir, """\
        import os, sys, time
        forked = 0
        while True:
            try:
                if os.fork() == 0:
                    forked = 0
                    continue
                forked += 1
            except OSError as exc:
                print(f"fork failed after {forked}: {exc}", file=sys.stderr, flush=True)
                time.sleep(0.2)  # polite on a shared machine, still holding its processes
        """)
    assert sample.timed_out
    assert sample.reasons["runs"].startswith(f"timed out after {TIMEOUT} s; process limit reached")
    assert "Resource temporarily unavailable" in sample.reasons["runs"]


def test_infinite_loop_is_stopped_by_the_time_limit(evil_case: Case, cache_dir: Path) -> None:
    sample = _run(evil_case, cache_dir, "while True:\n    pass\n")
    assert sample.timed_out and sample.exit_code is None
    assert sample.reasons["runs"].startswith(f"timed out after {TIMEOUT} s")
    assert sample.error.startswith("runs: timed out")


def test_memory_hog_is_stopped_at_the_memory_limit(evil_case: Case, cache_dir: Path) -> None:
    sample = _run(evil_case, cache_dir, """\
        held = []
        while True:
            held.append(bytearray(16 << 20))  # zero-filled: really resident
        """)
    assert not sample.timed_out
    assert sample.reasons["runs"] == "memory limit (256 MiB) exceeded: exit code 1: MemoryError"


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_gigabytes_of_output_are_cut_at_the_output_limit(evil_case: Case, cache_dir: Path, stream: str) -> None:
    sample = _run(evil_case, cache_dir, f"""\
        import sys
        line = "x" * 1023 + "\\n"
        for _ in range(4 << 20):  # 4 GiB
            sys.{stream}.write(line)
        """)
    assert sample.reasons["runs"] == f"output limit exceeded: more than 4 MiB on {stream}; killed"
    assert sample.seconds < TIMEOUT  # killed at the cap, not at the timeout
    assert len(getattr(sample, f"{stream}_tail")) < 30 * 1024  # the record keeps a tail only


def test_a_huge_file_is_cut_at_the_file_size_limit(evil_case: Case, cache_dir: Path) -> None:
    sample = _run(evil_case, cache_dir, """\
        with open("filler.bin", "wb") as f:
            for _ in range(1024):  # 1 GiB
                f.write(bytes(1 << 20))
        """)
    assert sample.reasons["runs"].startswith("file size limit (16 MiB) exceeded: exit code 1")
    assert "File too large" in sample.reasons["runs"]


def test_closing_stdout_and_stderr_then_hanging_is_stopped(evil_case: Case, cache_dir: Path) -> None:
    sample = _run(evil_case, cache_dir, """\
        import os, time
        print("closing", flush=True)
        os.close(1)
        os.close(2)
        time.sleep(3600)
        """)
    assert sample.timed_out
    assert sample.reasons["runs"] == f"timed out after {TIMEOUT} s; last output: closing"


@pytest.mark.parametrize("main_then", ["sleeps", "exits"])
@pytest.mark.parametrize("mode", ["auto", "basic"])
def test_a_daemon_that_left_the_session_and_the_environment_is_killed(
        evil_case: Case, cache_dir: Path, main_then: str, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Double fork + setsid + chdir + exec with an empty environment: out of the process group and
    # the sandbox directory, without the sandbox's marker variable; the PID namespace and the
    # sandbox uid still end it, and in basic mode the run's output pipe it inherited gives it away.
    monkeypatch.setenv("MLOPS_BENCH_ISOLATION", mode)
    monkeypatch.setattr(runner, "_isolation", None)  # probe again, under this setting
    sample = _run(evil_case, cache_dir, f"""\
        import os, sys, time
        child = os.fork()
        if child == 0:
            os.setsid()
            os.chdir("/")  # out of the sandbox's directory too
            if os.fork() == 0:
                os.execve(sys.executable, [sys.executable, "-c", "import time; time.sleep(3600)", "{TOKEN}"], {{}})
            os._exit(0)
        os.waitpid(child, 0)
        print("daemon started", flush=True)
        if {main_then == "sleeps"}:
            time.sleep(3600)
        """)
    assert "daemon started" in sample.stdout_tail
    if main_then == "sleeps":
        assert sample.reasons["runs"].startswith(f"timed out after {TIMEOUT} s")
    else:
        assert sample.checks["runs"]  # exited 0: it fails on the library check, and the daemon is gone anyway
        assert sample.reasons["library_used"] == "mlflow never imported at run time"


@pytest.fixture
def host_listener():
    """A server on the host's loopback that the sandbox must not reach."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        yield server


_NETWORK_PROGRAM = """\
    import json, socket
    attempts = {{"outside tcp": ("1.1.1.1", 53), "outside tcp6": ("2606:4700:4700::1111", 53),
                "host loopback": ("127.0.0.1", {port})}}
    results, first = {{}}, None
    for name, address in attempts.items():
        try:
            socket.create_connection(address, timeout=3).close()
            results[name] = "connected"
        except OSError as exc:
            results[name] = f"{{type(exc).__name__}}: {{exc}}"
            first = first or exc
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b"x", ("8.8.8.8", 53))
        results["outside udp"] = "sent"
    except OSError as exc:
        results["outside udp"] = f"{{type(exc).__name__}}: {{exc}}"
        first = first or exc
    print(json.dumps(results), flush=True)
    if first:
        raise first
    """


def _accepted(server: socket.socket) -> bool:
    try:
        connection, _ = server.accept()
    except BlockingIOError:
        return False
    connection.close()
    return True


def test_network_is_unreachable(evil_case: Case, cache_dir: Path, host_listener: socket.socket) -> None:
    if not _isolated():
        pytest.skip("no network namespace on this machine: see the socket guard test")
    sample = _run(evil_case, cache_dir, _NETWORK_PROGRAM.format(port=host_listener.getsockname()[1]))
    results = json.loads(sample.stdout_tail.splitlines()[-1])
    assert all("connected" != r and "sent" != r for r in results.values()), results
    assert "Network is unreachable" in results["outside tcp"]
    assert "ConnectionRefusedError" in results["host loopback"]  # the namespace's own lo: nobody listens
    assert not _accepted(host_listener)
    assert sample.reasons["runs"].startswith("network access blocked: exit code 1")


def test_basic_mode_socket_guard_blocks_the_outside(evil_case: Case, cache_dir: Path, host_listener: socket.socket,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Without namespaces (not root), sitecustomize refuses non-loopback addresses; loopback stays open."""
    monkeypatch.setenv("MLOPS_BENCH_ISOLATION", "basic")
    monkeypatch.setattr(runner, "_isolation", None)  # probe again, under the forced setting
    assert not runner.isolation().namespaces
    sample = _run(evil_case, cache_dir, _NETWORK_PROGRAM.format(port=host_listener.getsockname()[1]))
    results = json.loads(sample.stdout_tail.splitlines()[-1])
    for name in ("outside tcp", "outside tcp6", "outside udp"):
        assert results[name].startswith("PermissionError: [Errno 13] network access is disabled"), results
    assert results["host loopback"] == "connected"  # the documented limit of the guard: loopback is allowed
    assert _accepted(host_listener)
    assert sample.reasons["runs"].startswith("network access blocked: exit code 1")


def test_writes_outside_the_sandbox_are_refused(evil_case: Case, cache_dir: Path) -> None:
    if not _isolated():
        pytest.skip("no mount namespace: writes outside are only detected (this module's cleanup check)")
    targets = [str(p) for p in OUTSIDE]
    sample = _run(evil_case, cache_dir, f"""\
        import json, os
        results, first = {{}}, None
        for path in {targets!r} + [os.path.expanduser("~/inside.txt"), os.environ["TMPDIR"] + "/inside.txt"]:
            try:
                with open(path, "w") as f:
                    f.write("{TOKEN}")
                results[path] = "written"
            except OSError as exc:
                results[path] = type(exc).__name__ + ": " + exc.strerror
                first = first or exc
        print(json.dumps(results), flush=True)
        if first:
            raise first
        """)
    results = json.loads(sample.stdout_tail.splitlines()[-1])
    inside = [p for p in results if p.endswith("inside.txt")]
    assert all(results[p] == "written" for p in inside), results  # HOME and TMPDIR point into the sandbox
    for path in targets:
        if path.startswith("/dev/shm/"):
            assert results[path] == "written"  # the sandbox's private /dev/shm: gone with it (checked below)
        else:
            assert results[path] in ("OSError: Read-only file system", "PermissionError: Permission denied"), results
    assert sample.reasons["runs"].startswith("write outside the sandbox refused: exit code 1")
    # The autouse fixture asserts that none of OUTSIDE exists on the host.


@pytest.fixture
def secrets_holder(monkeypatch: pytest.MonkeyPatch):
    """The fake keys in this process's environment and in another process's initial environment."""
    for name, value in FAKE_SECRETS.items():
        monkeypatch.setenv(name, value)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", TOKEN],
                              env={**os.environ, **FAKE_SECRETS})
    yield holder
    holder.kill()
    holder.wait()


def test_the_callers_secrets_are_not_readable(evil_case: Case, cache_dir: Path, secrets_holder) -> None:
    sample = _run(evil_case, cache_dir, """\
        import json, os
        found = {"env": dict(os.environ), "proc": {}}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/environ", "rb") as f:
                        found["proc"][entry] = f.read().decode(errors="replace")
                except OSError:
                    pass
        print(json.dumps(found), flush=True)
        """)
    printed = sample.stdout_tail
    found = json.loads(printed.splitlines()[-1])
    assert sample.checks["runs"]
    for name, value in FAKE_SECRETS.items():
        assert name not in found["env"]
        assert value not in printed and value not in sample.stderr_tail and value not in json.dumps(sample.reasons)
    assert not any(n.endswith(("_KEY", "_TOKEN", "_SECRET")) or n.startswith("AWS_") for n in found["env"])
    if _isolated():  # a PID namespace: only the sandbox's own processes are visible
        assert str(secrets_holder.pid) not in found["proc"] and str(os.getpid()) not in found["proc"]


def test_a_normal_sample_still_passes_after_them(tmp_path: Path, cache_dir: Path) -> None:
    case = load_case(write_case(tmp_path / "dataset"))
    sample = run_sample(case, "tracking.mlflow", GOLD_TRACKING_MLFLOW, cache_dir=cache_dir, timeout_scale=1.0)
    assert sample.passed, sample.reasons
