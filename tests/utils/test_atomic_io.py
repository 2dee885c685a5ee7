"""Atomic writes: a kill mid-write leaves the previous file whole, a full disk says so and leaves it too."""

import errno
import os
import signal

import pytest
import torch

from lipreading.callbacks.resume_checkpoint import AtomicCheckpointIO
from lipreading.utils.io import DiskFullError, atomic_torch_save, atomic_write_json
from lipreading.utils.resume import checkpoint_problem, latest_valid_checkpoint

fork_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked child (POSIX)")
BIG = {"state_dict": {"w": torch.arange(200_000, dtype=torch.float32)}, "global_step": 2}


class KilledMidWrite:
    """Stands in for a file being written: the process is SIGKILLed after ``limit`` bytes."""

    def __init__(self, f, limit):
        self.f, self.limit, self.written = f, limit, 0

    def write(self, data):
        if self.written + len(data) >= self.limit:
            self.f.write(bytes(data)[: self.limit - self.written])
            self.f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        self.written += len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)


def save_and_get_killed(io, path):
    """Save ``BIG`` through ``io`` in a forked child that is SIGKILLed halfway through the write."""
    pid = os.fork()
    if pid == 0:  # the child: nothing after the kill runs, as with a real one
        real_save = torch.save
        torch.save = lambda obj, f, *a, **k: real_save(obj, KilledMidWrite(f, 300_000), *a, **k)
        io.save_checkpoint(BIG, path)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


@fork_only
def test_a_kill_while_a_checkpoint_is_written_leaves_the_previous_one_whole(tmp_path):
    last = tmp_path / "checkpoints" / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 1}, last)
    save_and_get_killed(io, last)
    assert checkpoint_problem(last) is None
    assert torch.load(last, weights_only=True)["global_step"] == 1
    leftovers = [p.name for p in last.parent.iterdir() if p != last]
    assert len(leftovers) == 1 and leftovers[0].startswith(".last.ckpt.") and leftovers[0].endswith(".tmp")
    assert latest_valid_checkpoint(tmp_path) == last  # the half-written temporary file is not a candidate


def _full_disk_after(limit):
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        class Full:
            written = 0

            def write(self, data):
                Full.written += len(data)
                if Full.written > limit:
                    raise OSError(errno.ENOSPC, "No space left on device")
                return f.write(data)

            def __getattr__(self, name):
                return getattr(f, name)

        return real_save(obj, Full(), *args, **kwargs)

    return save


def test_a_full_disk_fails_with_a_clear_message_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    last = tmp_path / "last.ckpt"
    atomic_torch_save({"global_step": 1}, last)
    monkeypatch.setattr(torch, "save", _full_disk_after(100_000))
    with pytest.raises(DiskFullError) as error:
        AtomicCheckpointIO().save_checkpoint(BIG, last)
    message = str(error.value)
    assert "no space left" in message and str(last) in message and "left as it was" in message
    assert "free some space" in message
    monkeypatch.undo()
    assert torch.load(last, weights_only=True)["global_step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no partial temporary file


def test_json_writes_are_atomic_too(tmp_path, monkeypatch):
    path = tmp_path / "metrics.json"
    atomic_write_json(path, {"a": 1})

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(DiskFullError, match="metrics.json"):
        atomic_write_json(path, {"a": 2})
    assert path.read_text().strip().endswith("}") and '"a": 1' in path.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
