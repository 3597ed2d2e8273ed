"""A minimal progress bar on stderr.

On a terminal it redraws one line; elsewhere (CI logs, pipes) it stays silent until the phase
ends and then prints one summary line, so logs are not flooded with carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 24


class Progress:
    def __init__(self, phase: str, total: int, stream: TextIO | None = None):
        self.phase = phase
        self.total = total
        self.done = 0
        self.failed = 0
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._note = ""
        self._draw()

    def advance(self, note: str = "", failed: bool = False) -> None:
        self.done += 1
        self.failed += int(failed)
        self._note = note
        self._draw()

    def _draw(self) -> None:
        if not self.interactive:
            return
        fraction = self.done / self.total if self.total else 1.0
        filled = int(fraction * _WIDTH)
        bar = "#" * filled + "-" * (_WIDTH - filled)
        elapsed = time.monotonic() - self.started
        line = f"{self.phase:<10} [{bar}] {self.done}/{self.total} {elapsed:6.0f}s {self._note}"
        self.stream.write("\r" + line[:120].ljust(120))
        self.stream.flush()

    def close(self, summary: str = "") -> None:
        elapsed = time.monotonic() - self.started
        if self.interactive:
            self.stream.write("\r" + " " * 120 + "\r")
        tail = f", {summary}" if summary else ""
        self.stream.write(f"{self.phase}: {self.done}/{self.total} done in {elapsed:.0f}s{tail}\n")
        self.stream.flush()
