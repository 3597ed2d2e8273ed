"""Exec a sandboxed command after isolating it and setting resource limits.

Usage: python -S -E launch.py CONFIG_JSON -- ARGV...

CONFIG_JSON keys (all set by `mlops_lsp.bench.runner`):

- `memory`, `file_size`, `processes`: RLIMIT_DATA, RLIMIT_FSIZE and RLIMIT_NPROC of the command.
- `isolate`: when true, the command runs in new network, mount and PID namespaces:
  * network: only `lo` (brought up here), so nothing outside the sandbox is reachable, not even
    a server listening on the host's 127.0.0.1;
  * mount: every mount is made read-only except the sandbox directory (bound onto itself); the
    `hide` directories (the caller's home, /tmp, /var/tmp) are covered by an empty tmpfs with only
    the `expose` paths (the Python installation) and the sandbox bound back, so other users' files
    and sockets there are out of reach; /dev/shm is a fresh, size-capped tmpfs; /proc shows the
    namespace;
  * PID: this launcher forks an init (PID 1 of the namespace) which forks the command; when the
    command exits or the init is killed, the kernel kills every process of the namespace, including
    daemons that left the session with setsid.
- `uid`: when set (isolate only), the command runs as this unprivileged uid/gid with no supplementary
  groups and no_new_privs, so RLIMIT_NPROC is enforced (root is exempt from it) and files outside
  the sandbox are protected by permissions as well.
- `shm`: size of the private /dev/shm in bytes.

The launcher sets the parent-death signal at every level, so a dying bench worker leaves nothing
behind. Only the standard library is used (it runs with -S -E). Failures to isolate are fatal
(exit 125 with one line on stderr): the runner probes the isolation first and never asks for it
when it is not available.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import resource
import signal
import socket
import struct
import sys

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_PR_SET_PDEATHSIG = 1
_PR_SET_NO_NEW_PRIVS = 38

_CLONE_NEWNS = 0x00020000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000

_MS_RDONLY = 0x1
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_NOEXEC = 0x8
_MS_REMOUNT = 0x20
_MS_NOATIME = 0x400
_MS_NODIRATIME = 0x800
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000
_MS_RELATIME = 0x200000
_MS_STRICTATIME = 0x1000000
_MOUNT_FLAGS = {"nosuid": _MS_NOSUID, "nodev": _MS_NODEV, "noexec": _MS_NOEXEC, "noatime": _MS_NOATIME,
                "nodiratime": _MS_NODIRATIME, "relatime": _MS_RELATIME, "strictatime": _MS_STRICTATIME}
# Kernel filesystems left as they are: they are not where a script could leave files behind.
_KEEP_WRITABLE = ("/proc", "/sys", "/dev")

_ISOLATION_FAILED = 125
_EXEC_FAILED = 127

_libc = ctypes.CDLL(None, use_errno=True)


class IsolationError(RuntimeError):
    pass


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise IsolationError(f"{what}: {os.strerror(code)} (errno {code})")


def _prctl(option: int, value: int, what: str) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), what)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    _check(_libc.mount(None if source is None else source.encode(), target.encode(),
                       None if fstype is None else fstype.encode(), ctypes.c_ulong(flags),
                       None if data is None else data.encode()),
           f"mount {source or fstype} on {target}")


def die_with_parent() -> None:
    """SIGKILL this process when its parent dies (no orphaned trainings)."""
    try:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, "prctl(PR_SET_PDEATHSIG)")
    except IsolationError as exc:
        sys.stderr.write(f"[mlops-bench launch] cannot set the parent-death signal: {exc}\n")


def bring_loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request))[1]
        if not flags & _IFF_UP:
            fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | _IFF_UP))


# --------------------------------------------------------------------------- mounts


def _unescape(field: str) -> str:
    """Mount points in mountinfo escape space, tab, newline and backslash as octal."""
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit() and len(field[i + 1 : i + 4]) == 3:
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _mounts() -> list[tuple[str, int]]:
    """(mount point, per-mount flags) of every mount of this namespace, parents first."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            options = fields[5].split(",")
            flags = sum(_MOUNT_FLAGS.get(o, 0) for o in options) | (_MS_RDONLY if "ro" in options else 0)
            found.append((_unescape(fields[4]), flags))
    return found


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _hide(directory: str, expose: list[str]) -> None:
    """Cover `directory` with an empty read-only tmpfs, binding the `expose` paths back in."""
    keep = [p for p in expose if _inside(p, directory) and os.path.exists(p)]
    handles = [(p, os.open(p, os.O_PATH | os.O_CLOEXEC)) for p in keep]  # reachable once covered
    _mount("tmpfs", directory, "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0755,size=1m")
    for path, handle in handles:
        if os.path.isdir(f"/proc/self/fd/{handle}"):
            os.makedirs(path, mode=0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            open(path, "a").close()
        _mount(f"/proc/self/fd/{handle}", path, None, _MS_BIND | _MS_REC)
        os.close(handle)


def isolate_filesystem(sandbox: str, hide: list[str], expose: list[str], shm_bytes: int) -> None:
    """Everything read-only but the sandbox; run in a fresh mount namespace, as root."""
    # First of all: nothing done below may propagate back to the host's mounts.
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE)
    _mount(sandbox, sandbox, None, _MS_BIND | _MS_REC)
    for directory in hide:
        _hide(directory, [*expose, sandbox])
    _mount("tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, f"mode=1777,size={shm_bytes}")
    for target, flags in _mounts():
        if (flags & _MS_RDONLY or _inside(target, sandbox) or target == "/dev/shm"
                or any(_inside(target, k) for k in _KEEP_WRITABLE)):
            continue
        try:
            _mount(None, target, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | flags)
        except IsolationError as exc:
            if ctypes.get_errno() in (errno.ENOENT, errno.EACCES):  # a mount point hidden by another mount
                continue
            raise exc
    _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    # The cwd still points at the directory under the bind mount (the read-only one): re-enter it.
    os.chdir(os.getcwd())


# --------------------------------------------------------------------------- processes


def set_limits(config: dict) -> None:
    # RLIMIT_AS breaks torch (it reserves large virtual ranges); RLIMIT_DATA bounds real heap use
    # (since Linux 4.7 it counts every private writable mapping, so big allocations fail too).
    memory, file_size = int(config["memory"]), int(config["file_size"])
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if config.get("processes"):
        processes = int(config["processes"])
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


def drop_privileges(uid: int) -> None:
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    _prctl(_PR_SET_NO_NEW_PRIVS, 1, "prctl(PR_SET_NO_NEW_PRIVS)")


def exec_command(command: list[str], config: dict) -> None:
    """Become the command (never returns)."""
    try:
        if config.get("uid") is not None:
            drop_privileges(int(config["uid"]))
        set_limits(config)
        die_with_parent()
        os.execvp(command[0], command)
    except (OSError, IsolationError) as exc:
        sys.stderr.write(f"[mlops-bench launch] cannot start {command[0]}: {exc}\n")
        sys.stderr.flush()
    os._exit(_EXEC_FAILED)


def run_as_init(command: list[str], config: dict, status_pipe: int) -> None:
    """PID 1 of the new namespace: start the command, reap orphans, report its wait status."""
    die_with_parent()
    try:
        isolate_filesystem(config["sandbox"], config.get("hide", []), config.get("expose", []), int(config["shm"]))
        bring_loopback_up()
    except (OSError, IsolationError) as exc:
        sys.stderr.write(f"[mlops-bench launch] isolation failed: {exc}\n")
        sys.stderr.flush()
        os._exit(_ISOLATION_FAILED)
    child = os.fork()
    if child == 0:
        os.close(status_pipe)
        exec_command(command, config)
    while True:  # the command's status; other children (orphans re-parented to us) are only reaped
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            os._exit(_EXEC_FAILED)
        if pid == child:
            os.write(status_pipe, struct.pack("i", status))
            # Exiting ends the namespace: the kernel kills every process left in it.
            os._exit(0)


def forward_status(status: int) -> None:
    """Exit like the command did: same exit code, or killed by the same signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else _EXEC_FAILED)


def run_isolated(command: list[str], config: dict) -> None:
    try:
        _check(_libc.unshare(_CLONE_NEWNS | _CLONE_NEWNET | _CLONE_NEWPID), "unshare(mount, net, pid)")
    except IsolationError as exc:
        sys.stderr.write(f"[mlops-bench launch] isolation failed: {exc}\n")
        os._exit(_ISOLATION_FAILED)
    read_end, write_end = os.pipe()
    init = os.fork()
    if init == 0:
        os.close(read_end)
        run_as_init(command, config, write_end)
    os.close(write_end)
    # Signals meant for the command reach it through the process group; this process only waits.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    _, init_status = os.waitpid(init, 0)
    report = os.read(read_end, 4)
    if len(report) == 4:
        forward_status(struct.unpack("i", report)[0])
    forward_status(init_status)  # the init itself failed or was killed


def main(argv: list[str]) -> None:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: launch.py CONFIG_JSON -- ARGV...")
    config, command = json.loads(argv[0]), argv[2:]
    die_with_parent()
    if config.get("isolate"):
        run_isolated(command, config)
    try:
        bring_loopback_up()  # harmless outside a network namespace: lo is up already
    except OSError:
        pass
    exec_command(command, config)


if __name__ == "__main__":
    main(sys.argv[1:])
