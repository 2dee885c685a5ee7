"""Born-again generations are stages of the one staged-run driver: planned, chained, resumed."""

import json
import os
from pathlib import Path

import pytest
import torch
from omegaconf import open_dict

from lipreading.run.stages import is_staged, train_stages
from lipreading.utils.errors import ConfigError


class FakeTrain:
    """Stands in for run.train.train: records each stage's config, writes its outputs."""

    def __init__(self, fail_at: str | None = None):
        self.configs, self.fail_at = [], fail_at

    def __call__(self, cfg):
        out = Path(cfg.paths.output_dir)
        self.configs.append(cfg)
        if out.name == self.fail_at:
            raise RuntimeError("interrupted")
        generation = int(out.name.removeprefix("gen"))
        ckpt = out / "checkpoints" / "best.ckpt"
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        ckpt.write_text("weights")
        metrics = {"val/acc": 0.5 + generation / 10, "test/acc": 0.4 + generation / 10, "train_seconds": 12.0,
                   "best_checkpoint": str(ckpt), "objective": 0.4 + generation / 10}
        (out / "metrics.json").write_text(json.dumps(metrics))
        return metrics


def _generations(compose_train, run_dir, *overrides):
    cfg = compose_train("experiment=distill_born_again_lrw", "generations=3", *overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
    return cfg


def test_the_born_again_chain_runs_from_generation_zero_and_resumes(compose_train, tmp_path):
    cfg = _generations(compose_train, tmp_path / "run", "task.alpha=0.5")
    assert is_staged(cfg)
    fake = FakeTrain(fail_at="gen2")
    with pytest.raises(RuntimeError, match="interrupted"):
        train_stages(cfg, train_fn=fake)
    gen0, gen1 = fake.configs[0], fake.configs[1]
    assert gen0.task._target_.endswith("WordClassificationTask") and "teacher" not in gen0.task
    assert gen0.task.optimizer.lr == 3.0e-4 and gen0.model == cfg.model  # the recipe, the same architecture
    assert gen1.task._target_.endswith("DistillationTask") and gen1.task.alpha == 0.5
    assert gen1.task.teacher.checkpoint == str(tmp_path / "run" / "gen0" / "checkpoints" / "best.ckpt")
    assert "generations" not in gen1 and gen1.paths.output_dir == str(tmp_path / "run" / "gen1")

    # The same command again: generations 0 and 1 are skipped, 2 continues from its newest whole
    # checkpoint (a newer, damaged one is skipped), 3 is trained.
    last = tmp_path / "run" / "gen2" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"global_step": 5}, last)
    damaged = last.with_name("epoch001-acc0.5000.ckpt")
    damaged.write_text("cut short")
    os.utime(damaged, (last.stat().st_mtime + 10,) * 2)
    resumed = FakeTrain()
    summary = train_stages(cfg, train_fn=resumed)
    assert [Path(c.paths.output_dir).name for c in resumed.configs] == ["gen2", "gen3"]
    assert resumed.configs[0].ckpt_path == str(last)
    assert resumed.configs[1].task.teacher.checkpoint == str(tmp_path / "run" / "gen2" / "checkpoints" / "best.ckpt")
    assert summary["objective"] == pytest.approx(0.7) and summary["gen0/test/acc"] == pytest.approx(0.4)
    table = (tmp_path / "run" / "stages.md").read_text().splitlines()
    assert table[0] == "| stage | val | test | train time | checkpoint |" and len(table) == 6
    assert table[2].startswith("| gen0 | acc 0.5000 | acc 0.4000 | 12 s |")
    finished = FakeTrain()
    train_stages(cfg, train_fn=finished)
    assert finished.configs == []


def test_a_given_teacher_stands_in_for_generation_zero(compose_train, tmp_path):
    cfg = _generations(compose_train, tmp_path / "run", "task.teacher.checkpoint=given.ckpt")
    fake = FakeTrain()
    train_stages(cfg, train_fn=fake)
    assert [Path(c.paths.output_dir).name for c in fake.configs] == ["gen1", "gen2", "gen3"]
    assert fake.configs[0].task.teacher.checkpoint == "given.ckpt"
    assert "| gen0 |  |  |  | given.ckpt |" in (tmp_path / "run" / "stages.md").read_text()


def test_generations_need_a_distillation_task(compose_train, tmp_path):
    cfg = _generations(compose_train, tmp_path / "run", "task=word_classification")
    with pytest.raises(ConfigError, match="generations=3 .* needs task=distillation"):
        train_stages(cfg, train_fn=FakeTrain())
    cfg = _generations(compose_train, tmp_path / "run", "generations=0")
    assert not is_staged(cfg)
