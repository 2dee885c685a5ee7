"""A run-dir lock held by another process (a forked child), for the tests of a second run being refused."""

import os
import time

from lipreading.utils.run_lock import RunDirLock


def hold_lock_in_a_child(run_dir) -> int:
    """Fork a child that takes ``run_dir``'s lock and sleeps (the caller kills it); return its PID."""
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        lock = RunDirLock(run_dir)
        lock.acquire()
        os.write(ready_w, b"1")
        time.sleep(60)  # killed before
        os._exit(0)
    os.read(ready_r, 1)
    return pid
