"""Runs that survive: a run killed mid-epoch and resumed ends exactly like an uninterrupted one."""

import json
import math

import pytest
import torch

from lipreading.run.checkpoint import read_checkpoint
from tests.test_entrypoints import run

# 3 words x 8 clips, batch 4 -> 6 steps per epoch; a resume checkpoint every 4 steps.
TINY = ["data.num_classes=3", "data.clips_per_word={train:8,val:3,test:3}", "data.batch_size=4",
        "trainer.max_epochs=2", "trainer.deterministic=true", "callbacks.resume_checkpoint.every_n_train_steps=4",
        "data.train_transform.max_mask_frames=3", "task.mixup_alpha=0.4"]


def _weights(run_dir):
    return read_checkpoint(run_dir / "checkpoints" / "last.ckpt").state_dict


def test_killed_run_resumes_to_the_same_weights_and_metrics(tmp_path):
    data = f"paths.data_dir={tmp_path / 'data'}"
    full = run("train.py", *TINY, data, f"hydra.run.dir={tmp_path / 'full'}")
    assert full.returncode == 0, full.stderr[-3000:]

    crashed = tmp_path / "crashed"
    killed = run("train.py", *TINY, data, f"hydra.run.dir={crashed}",
                 "+callbacks.killer._target_=tests.helpers.crash.KillAtStep", "+callbacks.killer.step=9")
    assert killed.returncode == -9, "the run should have been SIGKILLed"
    interrupted = read_checkpoint(crashed / "checkpoints" / "last.ckpt").contents
    assert interrupted["global_step"] == 8, "the last checkpoint is the mid-epoch one of step 8"
    assert interrupted["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [{"epoch": 1, "batches_trained": 2}]

    resumed = run("train.py", *TINY, data, f"hydra.run.dir={crashed}", "resume=auto")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr + resumed.stdout

    expected, actual = _weights(tmp_path / "full"), _weights(crashed)
    assert expected.keys() == actual.keys()
    for name in expected:
        assert torch.equal(expected[name], actual[name]), f"{name} differs after resume"
    m_full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    m_resumed = json.loads((crashed / "metrics.json").read_text())
    for key in ("val/acc", "val/loss", "test/acc", "test/loss"):
        assert math.isclose(m_full[key], m_resumed[key], rel_tol=0, abs_tol=0), key


def test_run_info_records_config_versions_and_commit(tmp_path):
    result = run("train.py", "data.num_classes=3", "data.clips_per_word={train:4,val:2,test:2}", "data.batch_size=4",
                 "trainer.max_epochs=1", "test=false", f"paths.data_dir={tmp_path / 'data'}",
                 f"hydra.run.dir={tmp_path / 'r'}")
    assert result.returncode == 0, result.stderr[-3000:]
    info = json.loads((tmp_path / "r" / "run_info.json").read_text())
    assert info["config"]["data"]["num_classes"] == 3
    assert info["environment"]["packages"]["torch"] == torch.__version__.split("+")[0] or \
        info["environment"]["packages"]["torch"].startswith(torch.__version__.split("+")[0])
    checkpoint = read_checkpoint(tmp_path / "r" / "checkpoints" / "last.ckpt")
    assert checkpoint.contents["environment"]["git_commit"] == info["environment"]["git_commit"]
    assert checkpoint.config == info["config"]
    assert checkpoint.record["origin"] == {"by": "train.py", "source": None, "sha256": None,
                                           "git_commit": info["environment"]["git_commit"]}


@pytest.mark.parametrize("overrides, message", [
    (["resume=sometimes"], "resume='sometimes' is not valid"),
    (["data.num_classes=3", "data.clips_per_word={train:2,val:1,test:1}"], "fewer than one batch"),
])
def test_bad_options_are_one_clear_sentence(tmp_path, overrides, message):
    result = run("train.py", *overrides, f"paths.data_dir={tmp_path / 'data'}", f"hydra.run.dir={tmp_path / 'r'}")
    assert result.returncode == 1 and message in result.stderr, result.stderr[-2000:]
