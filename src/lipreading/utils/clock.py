"""When this process started, on the ``time.monotonic()`` scale (what a time budget counts from)."""

from __future__ import annotations

import os
import time
from pathlib import Path


def process_started_at() -> float:
    """The ``time.monotonic()`` reading of this process's start (Linux ``/proc``); elsewhere, now.

    So that a budget for "the whole command" also counts the interpreter's start-up and imports
    (a minute on a busy machine).
    """
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime: clock ticks after boot
        running = time.clock_gettime(time.CLOCK_BOOTTIME) - started
    except (OSError, ValueError, IndexError, AttributeError):  # no /proc (macOS, Windows)
        return time.monotonic()
    return time.monotonic() - max(0.0, running)
