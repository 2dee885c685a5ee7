"""Runs that go on through the faults users meet: an unreadable clip, a crashed data-loader worker."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import hydra
import pytest
import torch

from lipreading.data.word_clips import WordClipDataset
from lipreading.run.train import train
from lipreading.utils.run_lock import RunDirInUse
from tests.test_resume import QUIET, SMALL_CLIPS, compose_run, data_dir, differing_tensors, final_checkpoint  # noqa: F401
from tests.helpers.teachers import TINY_MODEL
from tests.helpers.locks import hold_lock_in_a_child

# 3 words x 8 clips, batch 4: 6 steps per epoch, every clip read every epoch (no preloading).
RUN = [*TINY_MODEL, *SMALL_CLIPS, *QUIET, "data.num_classes=3", "data.clips_per_word={train:8,val:3,test:3}",
       "data.batch_size=4", "trainer.max_epochs=2", "data.preload=false", "test=false"]


def test_an_unreadable_clip_mid_epoch_is_reported_skipped_and_counted_and_the_run_goes_on(tmp_path, caplog):
    cfg = compose_run(RUN, tmp_path / "run", tmp_path / "data")  # its own data: one clip gets damaged
    hydra.utils.instantiate(cfg.data).prepare_data()
    bad = sorted(Path(cfg.data.root).glob("*/train/*.npz"))[5]
    bad.write_bytes(bad.read_bytes()[:100])  # cut short after the run's data was generated
    metrics = train(cfg)
    assert metrics["train/skipped_clips"] == 1.0, "one clip skipped in the last epoch"
    assert final_checkpoint(tmp_path / "run")["global_step"] == 12
    assert caplog.text.count(f"skipping clip: {bad}") == 1, "reported once"


def test_a_crashed_worker_mid_epoch_is_reported_and_the_run_goes_on_unchanged(tmp_path, data_dir, caplog, monkeypatch):
    train(compose_run(RUN, tmp_path / "reference", data_dir))
    marker, read = tmp_path / "crashed-once", WordClipDataset.__getitem__

    def getitem(self, index):  # the worker reading the 10th clip of the run dies (once), as the OOM killer does it
        if index == 9 and torch.utils.data.get_worker_info() is not None and not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return read(self, index)

    monkeypatch.setattr(WordClipDataset, "__getitem__", getitem)
    monkeypatch.setattr(torch.utils.data.dataloader._MultiProcessingDataLoaderIter._try_get_data, "__defaults__", (0.2,))
    train(compose_run([*RUN, "data.num_workers=2"], tmp_path / "crashed", data_dir))
    assert marker.exists() and "a data-loader worker crashed" in caplog.text
    # no batch was lost: the run equals one whose worker never crashed
    assert not differing_tensors(final_checkpoint(tmp_path / "reference"), final_checkpoint(tmp_path / "crashed"))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="holds the lock in a forked child (POSIX)")
def test_a_second_training_run_in_the_same_run_dir_is_refused_before_it_writes_anything(tmp_path):
    run_dir = tmp_path / "run"
    pid = hold_lock_in_a_child(run_dir)
    try:
        with pytest.raises(RunDirInUse, match=f"{run_dir} is in use by another training run \\(PID {pid}"):
            train(compose_run(RUN, run_dir, tmp_path / "data"))
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert sorted(p.name for p in run_dir.iterdir()) == ["train.lock"]
