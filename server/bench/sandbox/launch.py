"""Exec a sandboxed command after setting resource limits and bringing up loopback.

Usage: python -S -E launch.py MEMORY_BYTES FILE_SIZE_BYTES -- ARGV...

Run under `unshare --net` the process is in a fresh network namespace whose only interface, `lo`,
is down; libraries that talk to a local helper process over 127.0.0.1 need it up, and it is the
only network there is. Only the standard library is used (it runs with -S -E).
"""

from __future__ import annotations

import fcntl
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


def bring_loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request))[1]
        if not flags & _IFF_UP:
            fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | _IFF_UP))


def die_with_parent() -> None:
    """SIGKILL this process when the bench worker that started it dies (no orphaned trainings)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError) as exc:
        sys.stderr.write(f"[mlops-bench launch] cannot set the parent-death signal: {exc}\n")


def main(argv: list[str]) -> None:
    memory, file_size, separator, *command = argv
    if separator != "--" or not command:
        sys.exit("usage: launch.py MEMORY_BYTES FILE_SIZE_BYTES -- ARGV...")
    die_with_parent()
    try:
        bring_loopback_up()
    except OSError as exc:  # not fatal: only local helper processes need it
        sys.stderr.write(f"[mlops-bench launch] cannot bring loopback up: {exc}\n")
    # RLIMIT_AS breaks torch (it reserves large virtual ranges); RLIMIT_DATA bounds real heap use.
    resource.setrlimit(resource.RLIMIT_DATA, (int(memory), int(memory)))
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(file_size), int(file_size)))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
