"""resume=auto: the newest whole checkpoint of the run; damaged ones are reported and skipped."""

import os

import pytest
import torch

from lipreading.utils.errors import CheckpointError
from lipreading.utils.resume import checkpoint_problem, find_resume_checkpoint, resolve_ckpt_path


def _checkpoint(path, step, age):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global_step": step, "weights": torch.arange(1000.0)}, path)
    os.utime(path, (1_000_000 + age, 1_000_000 + age))
    return path


def test_damaged_files_are_named_and_why(tmp_path):
    good = _checkpoint(tmp_path / "good.ckpt", 1, 0)
    assert checkpoint_problem(good) is None
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    assert checkpoint_problem(empty) == "it is empty (0 bytes)"
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(good.read_bytes()[:-200])
    assert "truncated" in checkpoint_problem(cut)
    flipped = bytearray(good.read_bytes())
    flipped[len(flipped) // 2] ^= 0xFF  # inside the weights' record
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(bytes(flipped))
    assert "fails its checksum" in checkpoint_problem(bad)


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_damaged_newest_checkpoint_is_reported_and_skipped(tmp_path, caplog, damage):
    run = tmp_path / "run"
    best = _checkpoint(run / "checkpoints" / "epoch001-acc0.5000.ckpt", 8, 10)
    last = _checkpoint(run / "checkpoints" / "last.ckpt", 12, 20)
    last.write_bytes(b"" if damage == "empty" else last.read_bytes()[:100])
    os.utime(last, (1_000_020, 1_000_020))
    assert find_resume_checkpoint(run, tmp_path) == best
    assert f"skipping {last}" in caplog.text


def test_the_newest_of_last_and_last_v1_is_resumed(tmp_path):
    # Runs of earlier versions kept two last files (two callbacks): the newer one wins.
    run = tmp_path / "run"
    _checkpoint(run / "checkpoints" / "last.ckpt", 8, 10)
    newer = _checkpoint(run / "checkpoints" / "last-v1.ckpt", 9, 20)
    assert find_resume_checkpoint(run, tmp_path) == newer


def test_another_run_is_continued_only_when_its_overrides_are_known_and_equal(tmp_path):
    (tmp_path / "earlier" / ".hydra").mkdir(parents=True)
    (tmp_path / "earlier" / ".hydra" / "overrides.yaml").write_text("- seed=3\n")
    earlier = _checkpoint(tmp_path / "earlier" / "checkpoints" / "last.ckpt", 4, 0)
    unknown = tmp_path / "api_run"  # no .hydra: made by a script or a stage, not by train.py
    assert find_resume_checkpoint(unknown, tmp_path) is None
    same = tmp_path / "same"
    (same / ".hydra").mkdir(parents=True)
    (same / ".hydra" / "overrides.yaml").write_text("- seed=3\n- resume=auto\n")
    assert find_resume_checkpoint(same, tmp_path) == earlier


def test_an_explicit_damaged_ckpt_path_is_an_error_naming_it(tmp_path):
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(b"PK\x03\x04 not a whole archive")
    with pytest.raises(CheckpointError, match=f"ckpt_path={cut} cannot be resumed from: it is truncated"):
        resolve_ckpt_path(None, str(cut), tmp_path, None)
