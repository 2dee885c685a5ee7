"""Scaling out: rank-sharded loaders, trainer=ddp on CPU with 2 processes, the SLURM launcher config."""

import json
import os
import subprocess
import sys
from pathlib import Path

import hydra
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from lipreading.data.loaders import EpochShuffleSampler, ResumableLoader, ShardSampler
from tests.conftest import CONF, REPO


def test_epoch_order_is_sharded_into_disjoint_equal_parts():
    shards = [EpochShuffleSampler(23, seed=5, rank=r, world_size=3) for r in range(3)]
    for epoch in (0, 1):
        for sampler in shards:
            sampler.set_epoch(epoch)
        orders = [list(s) for s in shards]
        assert [len(o) for o in orders] == [len(s) for s in shards] == [7, 7, 7]
        assert len(set().union(*map(set, orders))) == 21  # disjoint
    single = EpochShuffleSampler(23, seed=5)
    single.set_epoch(1)
    assert list(single)[:21][1::3] == orders[1]  # the same epoch order as one process, dealt out


def test_a_resumed_rank_continues_its_own_shard():
    dataset = list(range(40))
    full = ResumableLoader(dataset, EpochShuffleSampler(40, seed=1, rank=1, world_size=2), batch_size=4)
    batches = [b.tolist() for b in full]
    resumed = ResumableLoader(dataset, EpochShuffleSampler(40, seed=1, rank=1, world_size=2), batch_size=4)
    resumed.load_state_dict({"epoch": 0, "batches_trained": 2})
    assert [b.tolist() for b in resumed] == batches[2:] and len(full) == 5


def test_evaluation_shards_read_every_clip_once():
    parts = [list(ShardSampler(10, r, 3)) for r in range(3)]
    assert sorted(sum(parts, [])) == list(range(10)) and [len(ShardSampler(10, r, 3)) for r in range(3)] == [4, 3, 3]


def test_slurm_launcher_config_follows_the_trainer():
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose("train", ["hydra/launcher=slurm", "trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2",
                                "hydra.launcher.partition=gpu"], return_hydra_config=True)
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert (launcher["nodes"], launcher["tasks_per_node"], launcher["gpus_per_node"]) == (2, 4, 4)
    assert launcher["partition"] == "gpu"
    assert type(hydra.utils.instantiate(launcher)).__name__ == "SlurmLauncher"
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.use_distributed_sampler is False


@pytest.mark.slow
def test_ddp_on_cpu_with_two_processes_trains_on_disjoint_clips(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2",
         "trainer.precision=32-true", "trainer.benchmark=false", "trainer.max_epochs=1",
         "data.num_classes=3", "data.clips_per_word={train:8,val:3,test:3}", "data.batch_size=4",
         "data.eval_batch_size=4", "+callbacks.record._target_=tests.helpers.record_clips.RecordClips",
         f"+callbacks.record.output_dir={run_dir}", f"paths.data_dir={tmp_path / 'data'}",
         f"hydra.run.dir={run_dir}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    ranks = [json.loads((run_dir / f"clips_rank{r}.json").read_text()) for r in (0, 1)]
    train = [set(r["train"]) for r in ranks]
    assert len(ranks[0]["train"]) == len(ranks[1]["train"]) == 12  # 24 clips: 3 batches of 4 per rank
    assert not train[0] & train[1] and len(train[0] | train[1]) == 24
    val = [r["val"] for r in ranks]
    assert not set(val[0]) & set(val[1]) and len(val[0]) + len(val[1]) == 9  # every clip once
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0 <= metrics["test/acc"] <= 1 and Path(metrics["best_checkpoint"]).is_file()
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["config"]["trainer"]["devices"] == 2
