"""One training process per run dir: a lock file that names its holder, freed by the system when it dies."""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import IO, Any

from lightning_fabric.utilities.rank_zero import rank_zero_only

from lipreading.utils.errors import UserError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None
    import msvcrt

log = logging.getLogger(__name__)

LOCK_FILE = "train.lock"


class RunDirInUse(UserError):
    """Another process trains in this run dir."""


def _try_lock(f: IO[Any]) -> bool:
    """Take the operating system's exclusive lock of ``f`` without waiting; False if another process holds it."""
    try:
        if fcntl is not None:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            msvcrt.locking(f.fileno(), msvcrt.LK_NBLCK, 1)
    except OSError:
        return False
    return True


def _holder(f: IO[Any]) -> dict[str, Any]:
    f.seek(0)
    try:
        return json.loads(f.read() or "{}")
    except ValueError:
        return {}


class RunDirLock:
    """``<run dir>/train.lock``, held while one ``train.py`` writes into the run dir.

    The lock is the operating system's (``flock``; ``msvcrt.locking`` on Windows) on that file,
    so it ends with its process however that ends (a SIGKILL, a crash, a reboot): the file of a
    dead process is a stale lock, taken over by the next run (which says so). The file holds
    the holder's PID, host and start time, for the message that refuses a second run. Only the
    rank-0 process of a distributed run takes it (the other ranks write no files).
    """

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._file: IO[Any] | None = None

    def acquire(self) -> None:
        if rank_zero_only.rank != 0 or self._file is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "a+", encoding="utf-8")
        f.seek(0)
        if not _try_lock(f):
            holder = _holder(f)
            f.close()
            who = f"PID {holder.get('pid', '?')} on {holder.get('host', '?')}, since {holder.get('started', '?')}"
            raise RunDirInUse(
                f"{self.path.parent} is in use by another training run ({who}); wait for it to end or stop it, "
                f"or give this run another directory (hydra.run.dir=...)"
            )
        previous = _holder(f)
        if previous.get("pid") not in (None, os.getpid()):
            log.warning("%s: taking over the lock of PID %s on %s (that run is no longer running)",
                        self.path, previous.get("pid"), previous.get("host"))
        f.seek(0)
        f.truncate()
        f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                            "started": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
        f.flush()
        self._file = f

    def release(self) -> None:
        """Let the next run in (the file stays, naming the last holder)."""
        if self._file is not None:
            self._file.close()  # closing the file ends the lock
            self._file = None

    def __enter__(self) -> RunDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
