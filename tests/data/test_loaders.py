"""The resumable training loaders: a checkpoint's position belongs to its epoch; crashed workers cost one batch."""

import os
import signal

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, get_worker_info

from lipreading.data.loaders import EpochShuffleSampler, ResumableLoader, WorkerFailures
from lipreading.data.sentences import LengthBucketSampler


def _epoch(loader, epoch):
    loader.epoch_sampler.set_epoch(epoch)  # what Lightning does before each epoch
    return [b.tolist() for b in loader]


def _word_loader(size=24, batch_size=4, seed=7, **kwargs):
    return ResumableLoader(list(range(size)), EpochShuffleSampler(size, seed), batch_size, **kwargs)


def test_a_mid_epoch_position_resumes_that_epoch():
    full = _word_loader()
    expected = _epoch(full, 1)
    resumed = _word_loader()
    resumed.load_state_dict({"epoch": 1, "batches_trained": 2})
    assert _epoch(resumed, 1) == expected[2:]
    assert resumed.state_dict() == {"epoch": 1, "batches_trained": 6}


def test_the_position_of_an_epoch_lightning_ended_early_does_not_leak_into_the_next():
    # The reported bug: under trainer.limit_train_batches=2, the checkpoint written at validation end
    # says "epoch 0, 2 batches trained" of the loader's 6; the resumed run starts epoch 1, which must
    # begin at its first batch (it began at its third: 46 of 54 tensors differed after 3 epochs).
    full = _word_loader()
    expected = _epoch(full, 1)
    resumed = _word_loader()
    resumed.load_state_dict({"epoch": 0, "batches_trained": 2})
    assert _epoch(resumed, 1) == expected
    resumed.load_state_dict({"epoch": 0, "batches_trained": 6})  # a whole epoch, as without a limit
    assert _epoch(resumed, 1) == expected


def test_the_order_follows_the_runs_seed_and_the_epoch():
    assert _epoch(_word_loader(seed=1), 0) != _epoch(_word_loader(seed=2), 0)
    loader = _word_loader(seed=1)
    assert _epoch(loader, 0) == _epoch(_word_loader(seed=1), 0) != _epoch(loader, 1)


def test_length_buckets_resume_mid_epoch_and_follow_the_seed():
    lengths = np.random.default_rng(0).integers(10, 100, 60)

    def loader(seed=3):
        return ResumableLoader(list(range(60)), LengthBucketSampler(lengths, 8, shuffle=True, seed=seed), None,
                               collate_fn=lambda items: torch.tensor(items))

    expected = _epoch(loader(), 2)
    resumed = loader()
    resumed.load_state_dict({"epoch": 2, "batches_trained": 3})
    assert _epoch(resumed, 2) == expected[3:]
    assert _epoch(loader(seed=4), 2) != expected
    assert hasattr(loader(), "state_dict")  # Lightning treats it as resumable (no warning)


class Dies(Dataset):
    """Item ``index`` kills the worker process that reads it (only the first time, if ``once``)."""

    def __init__(self, size, index, marker=None):
        self.size, self.index, self.marker = size, index, marker

    def __len__(self):
        return self.size

    def __getitem__(self, i):
        if i == self.index and get_worker_info() is not None:
            if self.marker is None or not os.path.exists(self.marker):
                if self.marker is not None:
                    open(self.marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
        return i


def _collate(items):
    good = [i for i in items if i is not None]
    return {"index": torch.tensor(good, dtype=torch.long), "skipped": len(items) - len(good)}


@pytest.fixture(autouse=True)
def quick_worker_checks(monkeypatch):
    """The loaders find dead workers when they poll them (every 5 s); poll every 0.1 s here."""
    from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

    monkeypatch.setattr(_MultiProcessingDataLoaderIter._try_get_data, "__defaults__", (0.1,))


def _crashing_loader(dataset, sampler, **kwargs):
    return ResumableLoader(dataset, sampler, 4, num_workers=2, persistent_workers=True, collate_fn=_collate, **kwargs)


def test_a_worker_that_crashes_once_costs_no_batch(tmp_path, caplog):
    sampler = EpochShuffleSampler(16, seed=0)
    order = sampler.epoch_order()
    loader = _crashing_loader(Dies(16, order[9], tmp_path / "died"), sampler)
    batches = list(loader)
    assert [i for b in batches for i in b["index"].tolist()] == order
    assert loader.worker_failures == 1 and "a data-loader worker crashed" in caplog.text
    assert loader.state_dict() == {"epoch": 0, "batches_trained": 4}


def _sleeper(seconds):
    import time

    time.sleep(seconds)


@pytest.mark.parametrize("error", [ConnectionResetError(104, "reset by peer"), ConnectionRefusedError(), EOFError()])
def test_a_connection_error_is_a_crash_when_a_worker_ends_meanwhile(error):
    """A worker killed while it hands a queued batch over makes ``next()`` raise a connection error,
    sometimes before the dying worker is seen to have exited: the loader waits for it to end."""
    import multiprocessing
    from types import SimpleNamespace

    from lipreading.data.loaders import is_worker_crash

    context = multiprocessing.get_context("fork")
    dying, living = context.Process(target=_sleeper, args=(0.3,)), context.Process(target=_sleeper, args=(30,))
    dying.start(), living.start()
    try:
        assert is_worker_crash(error, SimpleNamespace(_workers=[living, dying]), wait_s=10)
        assert not is_worker_crash(error, SimpleNamespace(_workers=[living]), wait_s=0.3)  # the dataset's own error
        assert not is_worker_crash(error, None, wait_s=0.3)
        assert not is_worker_crash(ValueError("bad clip"), SimpleNamespace(_workers=[dying]))
    finally:
        living.kill(), living.join(), dying.join()


def test_a_batch_that_always_crashes_its_worker_is_skipped_and_counted(caplog):
    sampler = EpochShuffleSampler(16, seed=0)
    order = sampler.epoch_order()
    loader = _crashing_loader(Dies(16, order[9]), sampler)  # in the third batch of 4
    batches = list(loader)
    assert [b["skipped"] for b in batches] == [0, 0, 4, 0]
    assert [i for b in batches for i in b["index"].tolist()] == order[:8] + order[12:]
    assert 2 <= loader.worker_failures <= 4 and "batch 2 of epoch 0 crashes the worker" in caplog.text


def test_workers_that_keep_crashing_stop_the_run_with_a_message():
    class AlwaysDies(Dies):
        def __getitem__(self, i):
            if get_worker_info() is not None:
                os.kill(os.getpid(), signal.SIGKILL)
            return i

    loader = _crashing_loader(AlwaysDies(16, 0), EpochShuffleSampler(16, 0), max_worker_failures=2)
    with pytest.raises(WorkerFailures, match="crashed 3 times in epoch 0.*data.num_workers=0.*resume=auto"):
        list(loader)
