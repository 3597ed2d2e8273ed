"""Run one adapted script in a sandbox and verify it with the action's generic checker.

`run_sample` is the execution half of `mlops-lsp bench`: it runs the ORIGINAL script once per case
(the baseline, cached in `cache_dir`), then the adapted source in a fresh sandbox, and scores it
with the common checks (below) plus the action's checker (`Action.checker`, a module of
`mlops_lsp.bench.checkers` exposing `CHECKS` and `check(ctx)`).

The sandbox: a fresh temporary directory whose `work/` subdirectory is the `{workdir}` and cwd;
`python train.py <args>` runs in its own session and process group with a scrubbed environment
(no inherited secrets; HOME and TMPDIR inside the sandbox), memory, file-size and process-count
limits, a time limit and an output limit that kill it, and the last 1 MiB of each stream kept.
Where the machine allows it (root, namespaces: see `isolation()` and `sandbox/launch.py`) it runs
as an unprivileged uid of its own in new network (loopback only), mount (everything read-only but
the sandbox) and PID namespaces (its end kills every process it started, setsid'd daemons too);
otherwise ("basic") `sandbox/sitecustomize.py` refuses non-loopback connections. Either way every
process of the sandbox (its uid, or its marker variable) is killed after each run, and a failure
names the limit that was hit. `sandbox/sitecustomize.py` (put on PYTHONPATH) also records what
the checkers need.

This module never imports torch, mlflow, wandb, optuna or nncf: checkers query those in subprocesses.
"""

from __future__ import annotations

import ast
import collections
import fcntl
import hashlib
import importlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType

from ..actions import get as get_action
from .dataset import Case

log = logging.getLogger(__name__)

SANDBOX_DIR = Path(__file__).resolve().parent / "sandbox"
OUTPUT_CAP_BYTES = 1 << 20  # keep the last 1 MiB of stdout and of stderr
OUTPUT_LIMIT_BYTES = 256 << 20  # a stream writing more than this is killed (runaway printing)
MEMORY_LIMIT_BYTES = 8 << 30  # RLIMIT_DATA: heap, not virtual reservations (torch reserves a lot)
FILE_SIZE_LIMIT_BYTES = 2 << 30
PROCESS_LIMIT = 512  # RLIMIT_NPROC of the sandbox uid; threads count (wandb's Go service has dozens)
SHM_LIMIT_BYTES = 1 << 30  # the private /dev/shm (torch DataLoader workers share tensors there)
SANDBOX_UID_BASE = 1_000_000  # sandbox uids: above any real account, one per live sandbox
NETWORK_GUARD_VAR = "MLOPS_BENCH_NETWORK_GUARD"  # sitecustomize blocks non-loopback sockets when set
PROBE_TIMEOUT = 180.0  # a checker's query subprocess (e.g. loading a registered model)
MARKER_VAR = "MLOPS_BENCH_SANDBOX"
# The baseline is only a reference: give it room so a busy machine does not poison the cache.
BASELINE_TIMEOUT_FACTOR = 3.0
BASELINE_FORMAT = 3  # bump when the cached baseline's shape or meaning changes

# Incidental outputs of the tooling, not of the script: never part of "the original's outputs".
_INCIDENTAL_PARTS = {"__pycache__", "mlruns", "mlartifacts", "wandb", "lightning_logs"}
_INCIDENTAL_FILES = {"train.py", "mlflow.db", "optuna.db"}

COMMON_CHECKS = ("parses", "no_placeholder", "runs", "library_used", "outputs_kept", "final_line_kept")


# ----------------------------------------------------------------------------------- results


@dataclass
class SampleRun:
    passed: bool
    checks: dict[str, bool]  # check name -> passed
    reasons: dict[str, str]  # check name -> why it failed (one line)
    error: str | None  # one-line summary of the first failure, None if passed
    seconds: float  # wall time of the script run
    exit_code: int | None = None
    timed_out: bool = False
    stdout_tail: str = ""  # last lines of the run's output, for the report
    stderr_tail: str = ""


@dataclass
class Execution:
    """One process run in the sandbox."""

    argv: list[str]
    exit_code: int | None  # None when killed by the runner (timeout, output limit)
    timed_out: bool
    stdout: str
    stderr: str
    seconds: float
    stopped_by: str | None = None  # "timeout" or "output limit (stdout|stderr)": killed by the runner
    processes_at_stop: int = 0  # the sandbox's processes still running when the command ended or was stopped
    limits: "Limits | None" = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and self.stopped_by is None

    def failure(self) -> str:
        """One line saying why the run did not finish with exit 0, naming the limit it hit if any."""
        last = _last_line(self.stderr) or _last_line(self.stdout) or "no output"
        limits = self.limits or Limits()
        if self.stopped_by and self.stopped_by.startswith("output limit"):
            stream = self.stopped_by.split("(")[-1].rstrip(")")
            return f"output limit exceeded: more than {_size(limits.output_bytes)} on {stream}; killed"
        if self.timed_out:
            message = f"timed out after {self.seconds:.0f} s"
            if self.processes_at_stop >= limits.processes:
                message += f"; process limit reached ({self.processes_at_stop} processes running)"
            elif self.processes_at_stop > 1:
                message += f"; {self.processes_at_stop} processes running"
            return f"{message}; last output: {last[:200]}"
        hint = _limit_hint(self.stderr, self.exit_code, limits)
        return f"{hint}exit code {self.exit_code}: {last[:300]}"


def _size(n: int) -> str:
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{n} bytes"


# stderr evidence of a sandbox limit -> the reason it is reported under
_LIMIT_EVIDENCE = [
    (re.compile(r"\bMemoryError\b|Cannot allocate memory|std::bad_alloc|out of memory", re.I), "memory limit ({memory}) exceeded"),
    (re.compile(r"Resource temporarily unavailable|BlockingIOError.*\bfork|can't start new thread"), "process limit ({processes}) reached"),
    (re.compile(r"Read-only file system"), "write outside the sandbox refused"),
    (re.compile(r"Network is unreachable|network access is disabled in the benchmark sandbox|"
                r"Temporary failure in name resolution|Name or service not known"), "network access blocked"),
]


def _limit_hint(stderr: str, exit_code: int | None, limits: "Limits") -> str:
    if exit_code == -signal.SIGXFSZ or "File too large" in stderr:  # Python ignores SIGXFSZ: EFBIG instead
        return f"file size limit ({_size(limits.file_size_bytes)}) exceeded: "
    for pattern, reason in _LIMIT_EVIDENCE:
        if pattern.search(stderr):
            return reason.format(memory=_size(limits.memory_bytes), processes=limits.processes) + ": "
    return ""


@dataclass
class Baseline:
    """The original train.py's run, cached per case."""

    exit_code: int | None
    timed_out: bool
    final_line: str | None  # last non-empty stdout line
    output_files: list[str]  # paths relative to the workdir written by the script
    seconds: float
    failure: str | None  # why it did not run cleanly, None if it did

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass
class CheckContext:
    """What a checker sees about a finished sample."""

    case: Case
    action_id: str
    source: str  # the adapted script
    original: str  # the case's train.py
    sandbox: "Sandbox"
    execution: Execution
    baseline: Baseline
    report: dict | None  # the sitecustomize hook's report, None if the script wrote none

    @property
    def workdir(self) -> Path:
        return self.sandbox.workdir

    @property
    def iterative(self) -> bool:
        """Iterative trainers must log at >= 2 steps: deep-learning frameworks or a training loop."""
        if self.case.framework in ("pytorch", "lightning", "keras"):
            return True
        return bool(_TRAINING_LOOP.search(self.original))

    def probe(self, module: str, *args: str, timeout: float = PROBE_TIMEOUT) -> tuple[dict | None, str]:
        """Run `python -m mlops_lsp.bench.checkers.<module> ARGS` in the sandbox's environment.

        The probe prints one JSON object as its last stdout line. Returns (that object, "") or
        (None, one-line reason).
        """
        argv = [sys.executable, "-m", f"mlops_lsp.bench.checkers.{module}", *args]
        env = self.sandbox.environment(hook=False)
        execution = self.sandbox.execute(argv, timeout=timeout, env=env)
        if not execution.ok:
            return None, f"probe {module} failed: {execution.failure()}"
        line = _last_line(execution.stdout)
        try:
            return json.loads(line), ""
        except (json.JSONDecodeError, TypeError):
            return None, f"probe {module} printed no JSON: {line[:200]!r}"


Check = tuple[bool, str]  # (passed, reason when it did not)

_TRAINING_LOOP = re.compile(r"partial_fit|warm_start\s*=\s*True|for\s+\w*(?:epoch|step|iter)\w*\s+in\b")


# ----------------------------------------------------------------------------------- sandbox


class _TailBuffer:
    """Keeps the last `cap` bytes written to it (a deque of chunks), counting what it dropped.

    `total` counts every byte fed; `limit_exceeded` is set once it passes `limit` (then the run is
    killed: a script printing gigabytes must not keep a core and the reader busy until its timeout).
    """

    def __init__(self, cap: int, limit: int | None = None) -> None:
        self.cap = cap
        self.limit = limit
        self.chunks: collections.deque[bytes] = collections.deque()
        self.size = 0
        self.dropped = 0
        self.total = 0
        self.limit_exceeded = threading.Event()

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        if self.limit is not None and self.total > self.limit:
            self.limit_exceeded.set()
        self.chunks.append(data)
        self.size += len(data)
        while self.size - len(self.chunks[0]) >= self.cap:
            dropped = self.chunks.popleft()
            self.size -= len(dropped)
            self.dropped += len(dropped)

    def text(self) -> str:
        data = b"".join(self.chunks)
        if len(data) > self.cap:
            self.dropped += len(data) - self.cap
            data = data[-self.cap :]
        text = data.decode("utf-8", errors="replace")
        if self.dropped:
            return f"[... {self.dropped} bytes of output dropped ...]\n{text}"
        return text


def _drain(stream, buffer: _TailBuffer) -> None:
    for chunk in iter(lambda: stream.read1(65536), b""):
        buffer.feed(chunk)
    stream.close()


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed process tree (the defaults are the bench's)."""

    memory_bytes: int = MEMORY_LIMIT_BYTES  # RLIMIT_DATA of every process
    file_size_bytes: int = FILE_SIZE_LIMIT_BYTES  # RLIMIT_FSIZE
    processes: int = PROCESS_LIMIT  # RLIMIT_NPROC of the sandbox's own uid (threads count)
    output_bytes: int = OUTPUT_LIMIT_BYTES  # per stream; beyond it the run is killed
    shm_bytes: int = SHM_LIMIT_BYTES  # the private /dev/shm (isolated mode)


@dataclass(frozen=True)
class Isolation:
    """How samples are contained on this machine (probed once per process)."""

    namespaces: bool  # network + mount + PID namespaces, unprivileged uid (see sandbox/launch.py)
    description: str  # one line, for logs and reports
    reason: str = ""  # why the namespaces are not used, when they are not


_isolation: Isolation | None = None
_isolation_lock = threading.Lock()


def isolation() -> Isolation:
    """Probe (once) whether samples can run in namespaces as an unprivileged uid.

    $MLOPS_BENCH_ISOLATION: `auto` (default), `basic` (never use namespaces: the Python socket guard
    instead) or `namespaces` (required: fail when unavailable).
    """
    global _isolation
    with _isolation_lock:
        if _isolation is None:
            _isolation = _probe_isolation()
            log.info("sandbox isolation: %s", _isolation.description)
            if not _isolation.namespaces:
                log.warning("sandbox: no namespaces (%s): samples run as this user, network blocked only by "
                            "the Python socket guard, writes outside the sandbox only detected", _isolation.reason)
        return _isolation


def _basic(reason: str) -> Isolation:
    return Isolation(False, "basic: own session, rlimits, scrubbed environment, Python socket guard", reason)


def _probe_isolation() -> Isolation:
    wanted = os.environ.get("MLOPS_BENCH_ISOLATION", "auto")
    if wanted not in ("auto", "basic", "namespaces"):
        raise ValueError(f"MLOPS_BENCH_ISOLATION must be auto, basic or namespaces, not {wanted!r}")
    if wanted == "basic":
        return _basic("MLOPS_BENCH_ISOLATION=basic")
    if os.geteuid() != 0:
        reason = "not root: cannot create namespaces or switch to an unprivileged uid"
    else:
        with Sandbox(isolate=True) as sandbox:
            run = sandbox.execute([sys.executable, "-S", "-c", "import os; print(os.getuid(), os.getpid())"],
                                  timeout=60, env=sandbox.environment(hook=False))
            uid = sandbox.uid
        lines = run.stdout.split()
        if run.ok and lines == [str(uid), "2"]:  # our uid, PID 2 of a new namespace (1 is its init)
            return Isolation(True, "namespaces: network (lo only), mount (read-only but the sandbox; empty /tmp, "
                                   "/var/tmp and home; private /dev/shm and /proc), PID (killed as a whole); "
                                   "unprivileged uid with RLIMIT_NPROC")
        reason = f"namespace probe failed: {_last_line(run.stderr) or run.failure()}"
    if wanted == "namespaces":
        raise RuntimeError(f"MLOPS_BENCH_ISOLATION=namespaces but {reason}")
    return _basic(reason)


def _sandbox_uid(directory: Path) -> int:
    """An unprivileged uid of its own for this sandbox: unique while the directory exists (its inode)."""
    inode = directory.stat().st_ino
    return SANDBOX_UID_BASE + inode % (2**31 - SANDBOX_UID_BASE - 2)


def _tasks_of_uid(uid: int) -> int:
    """Threads of every process of uid: what RLIMIT_NPROC counts."""
    count = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or _proc_uid(entry) != uid:
            continue
        try:
            count += next(int(line.split()[1]) for line in (entry / "status").read_text().splitlines()
                          if line.startswith("Threads:"))
        except (OSError, StopIteration, ValueError, IndexError):
            count += 1
    return count


def _proc_uid(entry: Path) -> int | None:
    try:
        for line in (entry / "status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _wait(process: subprocess.Popen, timeout: float, buffers: dict[str, _TailBuffer]) -> str | None:
    """Wait for the process; returns why it was stopped early ("timeout", "output ...") or None."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            process.wait(timeout=0.1)
            exited = True
        except subprocess.TimeoutExpired:
            exited = False
        for name, buffer in buffers.items():
            if buffer.limit_exceeded.is_set():
                return f"output limit ({name})"
        if exited:
            return None
        if time.monotonic() >= deadline:
            return "timeout"


def _hidden_directories() -> list[str]:
    """Covered by an empty tmpfs in the sandbox's mount namespace (the sandbox itself is bound back).

    The caller's home when other users may not enter it (it holds the caller's credentials), and the
    shared temporary directories (other programs' files and world-writable sockets live there).
    """
    hidden = [d for d in ("/tmp", "/var/tmp") if os.path.isdir(d) and not os.path.islink(d)]
    home = Path.home().resolve()
    try:
        if home != Path("/") and not home.stat().st_mode & 0o001:
            hidden.append(str(home))
    except OSError as exc:
        log.warning("sandbox: cannot stat the home directory %s: %s", home, exc)
    return hidden


def _exposed_paths() -> list[str]:
    """What the sandbox needs from a hidden directory: the Python installation and import paths,
    and this package's own tree (an editable install is found by a finder, not through sys.path)."""
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.realpath(sys.executable)), str(SANDBOX_DIR.parents[2])]
    candidates += [p for p in sys.path if p and os.path.isabs(p)]
    paths = sorted({os.path.realpath(p) for p in candidates if os.path.exists(p)})
    hidden = _hidden_directories()
    inside = [p for p in paths if any(p == h or p.startswith(h + "/") for h in hidden)]
    # Nested paths come with their parent's bind mount.
    return [p for p in inside if not any(p != q and p.startswith(q + "/") for q in inside)]


class Sandbox:
    """A fresh temporary directory: `work/` (cwd, `{workdir}`), `home/`, `tmp/`, `hook/` (the report).

    With namespaces (see `isolation()`), everything in it belongs to the sandbox's own uid, which
    the processes run as.
    """

    def __init__(self, keep: bool = False, limits: Limits | None = None, *, isolate: bool | None = None) -> None:
        self.limits = limits or Limits()
        self.root = Path(tempfile.mkdtemp(prefix="mlops-bench-")).resolve()
        self.isolated = isolation().namespaces if isolate is None else isolate
        self.uid = _sandbox_uid(self.root) if self.isolated else None
        self.workdir = self.root / "work"
        self.home = self.root / "home"
        self.tmp = self.root / "tmp"
        self.report_path = self.root / "hook" / "report.json"
        for directory in (self.workdir, self.home, self.tmp, self.report_path.parent):
            directory.mkdir()
        (self.home / ".gitconfig").write_text(
            "[user]\n\tname = mlops-bench\n\temail = bench@mlops-lsp.invalid\n"
            "[init]\n\tdefaultBranch = main\n[safe]\n\tdirectory = *\n",
            encoding="utf-8",
        )
        self.keep = keep or os.environ.get("MLOPS_BENCH_KEEP_SANDBOX") == "1"
        self.killed_leftovers = 0  # processes killed after the last execution (escaped daemons, bombs)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        _kill_sandbox_processes(self.marker, self.uid)
        if self.keep:
            log.warning("sandbox kept at %s", self.root)
            return
        shutil.rmtree(self.root, onerror=_log_rmtree_error)

    @property
    def marker(self) -> str:
        return str(self.root)

    def environment(self, *, hook: bool = True) -> dict[str, str]:
        """The scrubbed environment: nothing is inherited but PATH's venv and the locale."""
        venv = Path(sys.prefix)
        path = os.pathsep.join([str(venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])
        work = str(self.workdir)
        env = {
            "PATH": path,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "VIRTUAL_ENV": str(venv),
            "HOME": str(self.home),
            # The sandbox uid has no passwd entry: getpass.getuser() (MLflow's run user) reads these.
            "USER": "mlops-bench",
            "LOGNAME": "mlops-bench",
            "TMPDIR": str(self.tmp),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "PYTHONUNBUFFERED": "1",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg",
            "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db",
            "WANDB_MODE": "offline",
            "WANDB_DIR": work,
            "WANDB_SILENT": "true",
            "WANDB_DISABLE_CODE": "true",
            "DVC_NO_ANALYTICS": "1",
            "DVC_STUDIO_OFFLINE": "1",
            "DVC_SITE_CACHE_DIR": str(self.root / "dvc-site"),
            "DVC_GLOBAL_CONFIG_DIR": str(self.home / ".config" / "dvc"),
            "DVC_SYSTEM_CONFIG_DIR": str(self.root / "dvc-system"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "KERAS_BACKEND": "torch",
            # The scripts are tiny: one math thread each is fastest when samples share the cores
            # (--jobs), and keeps a sample's time independent of how many run beside it.
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            # Logging a model infers its pip requirements by re-importing it in a subprocess; bound that
            # (MLflow falls back to default requirements) so a loaded machine does not eat the timeout.
            "MLFLOW_REQUIREMENTS_INFERENCE_TIMEOUT": "20",
            "MLOPS_BENCH_OPTUNA_STORAGE": f"sqlite:///{work}/optuna.db",
            MARKER_VAR: self.marker,
        }
        if not self.isolated:
            # No network namespace: sitecustomize refuses connections to anything but loopback.
            env["PYTHONPATH"] = str(SANDBOX_DIR)
            env[NETWORK_GUARD_VAR] = "1"
        if hook:
            env["PYTHONPATH"] = str(SANDBOX_DIR)
            env["MLOPS_BENCH_REPORT"] = str(self.report_path)
        return env

    def _launcher(self) -> list[str]:
        limits = self.limits
        config: dict = {"memory": limits.memory_bytes, "file_size": limits.file_size_bytes,
                        "isolate": self.isolated, "shm": limits.shm_bytes}
        if self.isolated:
            config.update(uid=self.uid, processes=limits.processes, sandbox=str(self.root),
                          hide=_hidden_directories(), expose=_exposed_paths())
        elif os.geteuid() != 0:
            # RLIMIT_NPROC counts every thread of the uid: allow the user's current ones plus the limit.
            config["processes"] = _tasks_of_uid(os.geteuid()) + limits.processes
        return [sys.executable, "-S", "-E", str(SANDBOX_DIR / "launch.py"), json.dumps(config), "--"]

    def _hand_over(self) -> None:
        """Give the sandbox's files to its uid (the runner wrote some of them as root)."""
        if self.uid is None:
            return
        for directory, subdirs, files in os.walk(self.root):
            for name in [directory, *(os.path.join(directory, n) for n in subdirs + files)]:
                try:
                    if os.lstat(name).st_uid != self.uid:
                        os.lchown(name, self.uid, self.uid)
                except FileNotFoundError:
                    continue

    def execute(self, argv: list[str], *, timeout: float, env: dict[str, str]) -> Execution:
        """Run argv in the workdir, isolated, with limits; kill everything it started when it ends."""
        self._hand_over()
        full = self._launcher() + argv
        cap = min(OUTPUT_CAP_BYTES, self.limits.output_bytes)
        out = _TailBuffer(cap, self.limits.output_bytes)
        err = _TailBuffer(cap, self.limits.output_bytes)
        start = time.monotonic()
        process = subprocess.Popen(
            full, cwd=self.workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
        )
        readers = [threading.Thread(target=_drain, args=(process.stdout, out), daemon=True),
                   threading.Thread(target=_drain, args=(process.stderr, err), daemon=True)]
        pipes = _pipe_ids(process.stdout, process.stderr)
        for reader in readers:
            reader.start()
        stopped_by = _wait(process, timeout, {"stdout": out, "stderr": err})
        seconds = time.monotonic() - start
        # The sandbox's own processes (not the launcher and the namespace's init, which run as root).
        alive = [p for p in _sandbox_processes(self.marker, self.uid, process.pid, pipes)
                 if self.uid is None or _proc_uid(Path(f"/proc/{p}")) == self.uid]
        _kill_group(process.pid)
        self.killed_leftovers = _kill_sandbox_processes(self.marker, self.uid, pipes)
        process.wait()
        deadline = time.monotonic() + 5
        for reader in readers:
            reader.join(timeout=max(0.1, deadline - time.monotonic()))
            if reader.is_alive():  # a process beyond every scan still holds the output: do not wait for it
                log.error("sandbox %s: an unknown process still holds the run's output", self.root)
        if stopped_by is None:  # it exited before the readers caught up with what it wrote
            stopped_by = next((f"output limit ({name})" for name, buffer in (("stdout", out), ("stderr", err))
                               if buffer.limit_exceeded.is_set()), None)
        timed_out = stopped_by == "timeout"
        return Execution(
            argv=argv, exit_code=None if stopped_by else process.returncode, timed_out=timed_out,
            stdout=out.text(), stderr=err.text(), seconds=seconds, stopped_by=stopped_by,
            processes_at_stop=len(alive), limits=self.limits,
        )


    def run_case(self, case: Case, source: str, *, timeout: float) -> tuple[Execution | None, Execution]:
        """Copy source as train.py, run the case's setup commands, then the script.

        Returns (the first failing setup command's execution or None, the script's execution).
        The script does not run when a setup command fails; its execution then repeats that failure.
        """
        (self.workdir / "train.py").write_text(source, encoding="utf-8")
        plain_env = self.environment(hook=False)
        for command in case.setup:
            setup = self.execute(["/bin/sh", "-c", case.expand(command, self.workdir)],
                                 timeout=timeout, env=plain_env)
            if not setup.ok:
                return setup, setup
        args = [case.expand(arg, self.workdir) for arg in case.args]
        script = self.execute([sys.executable, "train.py", *args], timeout=timeout, env=self.environment())
        return None, script

    def neutral_paths(self, text: str) -> str:
        """Text with this sandbox's paths replaced by placeholders, comparable across sandboxes."""
        return text.replace(str(self.workdir), "{workdir}").replace(str(self.root), "{sandbox}")

    def read_report(self) -> dict | None:
        try:
            return json.loads(self.report_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, json.JSONDecodeError) as exc:
            log.warning("sandbox %s: unreadable hook report: %s", self.root, exc)
            return None

    def files(self) -> set[str]:
        """The script's own files under the workdir (relative, '/'-separated).

        Left out: hidden files and directories (.git, .dvc, ...), tooling output (mlruns, wandb, ...),
        and the internals of bare git repositories (objects named by hashes that differ per run).
        """
        found: set[str] = set()
        for directory, subdirs, files in os.walk(self.workdir):
            subdirs[:] = [d for d in subdirs if not d.startswith(".") and d not in _INCIDENTAL_PARTS
                          and not _is_bare_git_repo(Path(directory, d))]
            relative_dir = Path(directory).relative_to(self.workdir)
            for name in files:
                if name.startswith(".") or (relative_dir == Path(".") and name in _INCIDENTAL_FILES):
                    continue
                found.add((relative_dir / name).as_posix())
        return found


def _is_bare_git_repo(path: Path) -> bool:
    return (path / "HEAD").is_file() and (path / "objects").is_dir() and (path / "refs").is_dir()


def _log_rmtree_error(function, path, exc_info) -> None:
    log.warning("sandbox cleanup: %s(%s) failed: %s", getattr(function, "__name__", function), path, exc_info[1])


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    except PermissionError as exc:
        log.warning("sandbox: cannot kill process group %d: %s", pgid, exc)


def _sandbox_processes(marker: str, uid: int | None, exclude: int | None = None,
                       pipes: frozenset[str] = frozenset()) -> list[int]:
    """Pids of this sandbox's processes: those of its uid, working in it, holding one of its output
    `pipes` ("pipe:[inode]"), or carrying its marker variable.

    The uid (namespaces) catches everything; without it, a daemon that cleared its environment is
    still found by its working directory or its inherited stdout/stderr, unless it left the sandbox
    and closed them too (basic mode's limit).
    """
    needle = f"{MARKER_VAR}={marker}\0".encode()
    inside = marker.rstrip("/") + "/"
    own = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in (own, exclude):
            continue
        if uid is not None and _proc_uid(entry) == uid:
            found.append(int(entry.name))
            continue
        try:
            cwd = os.readlink(entry / "cwd")
        except OSError:
            cwd = ""
        if cwd == marker or cwd.startswith(inside) or (pipes and _holds_any(entry, pipes)):
            found.append(int(entry.name))
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        if needle in environ:
            found.append(int(entry.name))
    return found


def _holds_any(entry: Path, pipes: frozenset[str]) -> bool:
    try:
        for fd in os.listdir(entry / "fd"):
            try:
                if os.readlink(entry / "fd" / fd) in pipes:
                    return True
            except OSError:
                continue
    except OSError:
        return False
    return False


def _pipe_ids(*streams) -> frozenset[str]:
    return frozenset(f"pipe:[{os.fstat(s.fileno()).st_ino}]" for s in streams)


def _kill_sandbox_processes(marker: str, uid: int | None, pipes: frozenset[str] = frozenset()) -> int:
    """SIGKILL every process of the sandbox (escaped daemons too); returns how many were killed.

    Scans until none is left: without a PID namespace a fork bomb may fork between two passes.
    """
    killed: set[int] = set()
    for _ in range(50):
        pids = [p for p in _sandbox_processes(marker, uid, pipes=pipes) if p not in killed or _alive(p)]
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except ProcessLookupError:
                pass
            except PermissionError as exc:
                log.warning("sandbox: cannot kill leftover process %s: %s", pid, exc)
        time.sleep(0.02)
    else:
        log.error("sandbox %s: processes still alive after 50 kill passes", marker)
    return len(killed)


def _alive(pid: int) -> bool:
    """Running (a zombie is dead, only not yet reaped by its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# ----------------------------------------------------------------------------------- baseline


def _case_key(case: Case) -> str:
    digest = hashlib.sha256()
    digest.update(f"{BASELINE_FORMAT}\0".encode())
    digest.update(case.script.read_bytes())
    digest.update(json.dumps([case.args, case.setup, case.timeout]).encode())
    return f"{case.id}-{digest.hexdigest()[:16]}"


def baseline(case: Case, cache_dir: Path, *, timeout_scale: float = 1.0) -> Baseline:
    """The original script's run, computed once per case content; safe across worker processes."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = _case_key(case)
    path = cache_dir / f"{key}.json"
    with open(cache_dir / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker runs it, the others wait and read it
        try:
            if path.is_file():
                try:
                    return Baseline(**json.loads(path.read_text(encoding="utf-8")))
                except (json.JSONDecodeError, TypeError) as exc:
                    log.warning("baseline cache %s unreadable (%s); recomputing", path, exc)
            result = _run_baseline(case, case.timeout * timeout_scale * BASELINE_TIMEOUT_FACTOR)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(asdict(result), indent=1), encoding="utf-8")
            os.replace(tmp, path)
            return result
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run_baseline(case: Case, timeout: float) -> Baseline:
    with Sandbox() as sandbox:
        (sandbox.workdir / "train.py").write_text(case.script.read_text(encoding="utf-8"), encoding="utf-8")
        plain_env = sandbox.environment(hook=False)
        for command in case.setup:
            setup = sandbox.execute(["/bin/sh", "-c", case.expand(command, sandbox.workdir)],
                                    timeout=timeout, env=plain_env)
            if not setup.ok:
                return Baseline(setup.exit_code, setup.timed_out, None, [], 0.0,
                                f"setup command {command!r} failed: {setup.failure()}")
        before = sandbox.files()
        args = [case.expand(arg, sandbox.workdir) for arg in case.args]
        run = sandbox.execute([sys.executable, "train.py", *args], timeout=timeout, env=sandbox.environment())
        outputs = sorted(sandbox.files() - before)
        return Baseline(
            exit_code=run.exit_code, timed_out=run.timed_out,
            final_line=sandbox.neutral_paths(_last_line(run.stdout)) or None,
            output_files=outputs, seconds=run.seconds, failure=None if run.ok else run.failure(),
        )


# ----------------------------------------------------------------------------------- common checks

_PLACEHOLDERS = [
    re.compile(r"\.\.\.\s*\(?\s*(?:the\s+)?(?:rest|remaining|existing|other|same|previous|unchanged)\b", re.I),
    re.compile(r"#.*\b(?:rest|remainder)\s+of\s+(?:the\s+)?(?:code|script|file|training|function|implementation)", re.I),
    re.compile(r"#.*\b(?:existing|original|previous|unchanged)\s+(?:code|training|logic|implementation)\b", re.I),
    re.compile(r"#\s*(?:TODO|FIXME)\b[:\s]*(?:implement|add|fill)", re.I),
    re.compile(r"\bpass\s*#\s*(?:your|implement|todo|add|fill)", re.I),
    re.compile(r"^\s*#\s*\.\.\.\s*$", re.M),
    re.compile(r"raise\s+NotImplementedError", re.I),
]


def _placeholder_count(source: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for pattern in _PLACEHOLDERS:
        n = len(pattern.findall(source))
        if n:
            counts[pattern.pattern] = n
    try:  # a bare `...` statement (an elided body)
        n = sum(1 for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node.value.value is Ellipsis)
    except SyntaxError:
        n = 0
    if n:
        counts["..."] = n
    return counts


def check_no_placeholder(source: str, original: str) -> Check:
    """Placeholders beyond those the original already had."""
    new, old = _placeholder_count(source), _placeholder_count(original)
    extra = [p for p, n in new.items() if n > old.get(p, 0)]
    if not extra:
        return True, ""
    example = "..."
    for pattern in _PLACEHOLDERS:
        match = pattern.search(source) if pattern.pattern in extra else None
        if match:  # quote the whole line: the match alone may be a fragment like "... rest"
            start = source.rfind("\n", 0, match.start()) + 1
            end = source.find("\n", match.end())
            example = source[start : end if end != -1 else len(source)]
            break
    return False, f"lazy placeholder: {example.strip()[:100]!r}"


# A number, or a hex id of >= 7 characters with a digit (a commit sha, a run id): both vary per run.
_NUMBER = r"(?:\b(?=[0-9a-f]*\d)[0-9a-f]{7,64}\b|[-+]?(?:nan|inf|(?:\d[\d_,]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?))"
_NUMBER_RE = re.compile(_NUMBER, re.I)


def final_line_pattern(line: str) -> re.Pattern[str]:
    """The baseline's final line as a pattern: its text exactly (whitespace runs free), any numbers."""
    pieces = _NUMBER_RE.split(line.strip())
    escaped = [re.sub(r"(?:\\\s)+|\s+", r"\\s+", re.escape(p)) for p in pieces]
    return re.compile(_NUMBER.join(escaped), re.I)


def check_final_line(stdout: str, base: Baseline) -> Check:
    """The baseline's final line printed again, numbers free (paths already neutralised in both)."""
    if not base.ok:
        return False, f"the original script itself fails: {base.failure}"
    if not base.final_line:
        return True, ""  # the original prints nothing to compare with
    pattern = final_line_pattern(base.final_line)
    if any(pattern.fullmatch(line.strip()) for line in stdout.splitlines()):
        return True, ""
    return False, f"the original's final line {base.final_line[:120]!r} (numbers free) is not printed"


def check_outputs(sandbox: Sandbox, base: Baseline) -> Check:
    if not base.ok:
        return False, f"the original script itself fails: {base.failure}"
    missing = [f for f in base.output_files if not (sandbox.workdir / f).is_file()]
    if missing:
        return False, f"{len(missing)} of the original's output files missing: {', '.join(missing[:5])}"
    return True, ""


def check_library_used(report: dict | None, modules: tuple[str, ...]) -> Check:
    if report is None:
        return False, "no run-time report (the script did not exit normally)"
    imported = set(report.get("modules", []))
    commands = " ".join(report.get("commands", []))
    for module in modules:
        if module in imported:
            return True, ""
        top = module.split(".")[0]
        if "." not in module and re.search(rf"(?:^|[\s/]){re.escape(top)}(?:\s|$)", commands):
            return True, ""  # e.g. the dvc CLI started with subprocess
    return False, f"{' or '.join(modules)} never imported at run time"


# ----------------------------------------------------------------------------------- run_sample


def _last_line(text: str) -> str:
    for line in reversed(text.splitlines()):
        if line.strip():
            return line.strip()
    return ""


def _tail(text: str, lines: int = 20) -> str:
    return "\n".join(text.splitlines()[-lines:])


def load_checker(action_id: str) -> ModuleType:
    spec = get_action(action_id).checker
    module_name, _, function = spec.partition(":")
    module = importlib.import_module(module_name)
    if function != "check" or not hasattr(module, "check"):
        raise RuntimeError(f"checker {spec!r} of {action_id}: expected a module with check(ctx)")
    return module


def library_modules(action_id: str, checker: ModuleType) -> tuple[str, ...]:
    """The modules whose import proves the target library is used (a checker may narrow it)."""
    return tuple(getattr(checker, "LIBRARY_MODULES", (get_action(action_id).library,)))


def env_timeout_scale() -> float:
    """Multiplier of every case timeout, from $MLOPS_BENCH_TIMEOUT_SCALE (for slow or loaded machines)."""
    raw = os.environ.get("MLOPS_BENCH_TIMEOUT_SCALE", "1")
    try:
        scale = float(raw)
    except ValueError:
        raise ValueError(f"MLOPS_BENCH_TIMEOUT_SCALE must be a number, not {raw!r}") from None
    if scale <= 0:
        raise ValueError(f"MLOPS_BENCH_TIMEOUT_SCALE must be positive, not {raw!r}")
    return scale


def run_sample(case: Case, action_id: str, source: str, *, cache_dir: Path,
               timeout_scale: float | None = None, limits: Limits | None = None) -> SampleRun:
    """Run `source` (an adaptation of case.script for action_id) in a sandbox and check it.

    `timeout_scale` multiplies case.timeout (default: $MLOPS_BENCH_TIMEOUT_SCALE, else 1).
    `limits` bounds the adapted script's run (default: the bench's `Limits()`); the original's
    baseline always runs with the defaults.
    """
    scale = timeout_scale if timeout_scale is not None else env_timeout_scale()
    checker = load_checker(action_id)
    names = list(COMMON_CHECKS) + list(checker.CHECKS)
    original = case.script.read_text(encoding="utf-8")
    results: dict[str, Check] = {}
    try:
        ast.parse(source)
        results["parses"] = (True, "")
    except SyntaxError as exc:
        results["parses"] = (False, f"syntax error line {exc.lineno}: {exc.msg}")
        return _finish(names, results, seconds=0.0, skipped="the adapted file does not parse")
    results["no_placeholder"] = check_no_placeholder(source, original)
    base = baseline(case, cache_dir, timeout_scale=scale)
    with Sandbox(limits=limits) as sandbox:
        setup_failure, execution = sandbox.run_case(case, source, timeout=case.timeout * scale)
        report = sandbox.read_report()
        if setup_failure is not None:
            results["runs"] = (False, f"setup command failed: {setup_failure.failure()}")
        else:
            results["runs"] = (execution.ok, "" if execution.ok else execution.failure())
        results["library_used"] = check_library_used(report, library_modules(action_id, checker))
        results["outputs_kept"] = check_outputs(sandbox, base)
        results["final_line_kept"] = check_final_line(sandbox.neutral_paths(execution.stdout), base)
        if report and report.get("errors"):
            log.warning("sandbox hook errors in %s/%s: %s", case.id, action_id, "; ".join(report["errors"])[:500])
        if execution.ok and setup_failure is None:
            ctx = CheckContext(case=case, action_id=action_id, source=source, original=original, sandbox=sandbox,
                               execution=execution, baseline=base, report=report)
            try:
                results.update(checker.check(ctx))
            except Exception as exc:  # a checker bug must show up as a failed check, with its cause
                log.exception("checker for %s crashed on %s", action_id, case.id)
                results["checker"] = (False, f"checker crashed: {type(exc).__name__}: {exc}")
            skipped = None
        else:
            skipped = "the script did not finish with exit 0"
        sample = _finish(names, results, seconds=execution.seconds, skipped=skipped)
        sample.exit_code, sample.timed_out = execution.exit_code, execution.timed_out
        sample.stdout_tail, sample.stderr_tail = _tail(execution.stdout), _tail(execution.stderr)
        return sample


def _finish(names: list[str], results: dict[str, Check], *, seconds: float, skipped: str | None) -> SampleRun:
    for name in names:
        results.setdefault(name, (False, f"not checked: {skipped}" if skipped else "not checked"))
    ordered = {name: results[name] for name in names} | {k: v for k, v in results.items() if k not in names}
    checks = {name: ok for name, (ok, _) in ordered.items()}
    reasons = {name: reason.splitlines()[0] if reason else "failed" for name, (ok, reason) in ordered.items() if not ok}
    first = next((f"{name}: {reasons[name]}" for name, ok in checks.items() if not ok), None)
    return SampleRun(passed=first is None, checks=checks, reasons=reasons, error=first, seconds=seconds)


__all__ = ["Baseline", "CheckContext", "Execution", "Isolation", "Limits", "Sandbox", "SampleRun", "baseline",
           "isolation", "run_sample"]
