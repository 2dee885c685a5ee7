"""One training run per run dir: a second one is refused; the lock of a dead one is taken over."""

import os
import signal

import pytest

from lipreading.utils.run_lock import RunDirInUse, RunDirLock
from tests.helpers.locks import hold_lock_in_a_child

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="holds the lock in a forked child (POSIX)")


def test_a_second_run_is_refused_naming_the_first_and_a_dead_ones_lock_is_taken_over(tmp_path, caplog):
    pid = hold_lock_in_a_child(tmp_path)
    try:
        with pytest.raises(RunDirInUse, match=rf"{tmp_path} is in use by another training run \(PID {pid} on .*\); "
                                              r"wait for it .* \(hydra.run.dir=\.\.\.\)"):
            RunDirLock(tmp_path).acquire()
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    with RunDirLock(tmp_path):  # the killed run's lock went with it
        assert f"taking over the lock of PID {pid}" in caplog.text
        assert f'"pid": {os.getpid()}' in (tmp_path / "train.lock").read_text()
    with RunDirLock(tmp_path):  # released: the next run gets it
        pass
