import json

import pytest

from lipreading.distill_generations import main, parse_args, run_generations
from lipreading.utils.errors import ConfigError


class FakeTrain:
    """Stands in for training.train: records each generation's config, writes its outputs."""

    def __init__(self, fail_at: int | None = None):
        self.configs, self.fail_at = [], fail_at

    def __call__(self, cfg):
        out = cfg.paths.output_dir
        generation = int(out.rsplit("gen", 1)[1])
        self.configs.append(cfg)
        if generation == self.fail_at:
            raise RuntimeError("interrupted")
        from pathlib import Path

        ckpt = Path(out) / "checkpoints" / "best.ckpt"
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        ckpt.write_text("weights")
        metrics = {"val/acc": 0.5 + generation / 10, "test/acc": 0.4 + generation / 10, "test/acc5": 0.9,
                   "train_seconds": 12.0, "best_checkpoint": str(ckpt)}
        (Path(out) / "metrics.json").write_text(json.dumps(metrics))
        return metrics


def test_generations_chain_teachers_and_resume(tmp_path):
    overrides = ["trainer.max_epochs=1", "distill.alpha=0.5"]
    fake = FakeTrain(fail_at=2)
    with pytest.raises(RuntimeError, match="interrupted"):
        run_generations(3, tmp_path, overrides, train_fn=fake)
    assert len(fake.configs) == 3
    gen0, gen1 = fake.configs[0], fake.configs[1]
    assert not gen0.distill and gen0.trainer.max_epochs == 1  # distill.* overrides skip the teacher
    assert gen1.distill.born_again and gen1.distill.alpha == 0.5
    assert gen1.distill.teacher.checkpoint == str(tmp_path / "gen0" / "checkpoints" / "best.ckpt")

    # The same command again: generations 0 and 1 are skipped, 2 and 3 are trained.
    (tmp_path / "gen2" / "checkpoints").mkdir(parents=True)
    (tmp_path / "gen2" / "checkpoints" / "last.ckpt").write_text("partial")
    resumed = FakeTrain()
    rows = run_generations(3, tmp_path, overrides, train_fn=resumed)
    assert [c.paths.output_dir.rsplit("/", 1)[1] for c in resumed.configs] == ["gen2", "gen3"]
    assert resumed.configs[0].ckpt_path == str(tmp_path / "gen2" / "checkpoints" / "last.ckpt")
    assert resumed.configs[1].distill.teacher.checkpoint == str(tmp_path / "gen2" / "checkpoints" / "best.ckpt")
    assert [r["generation"] for r in rows] == [0, 1, 2, 3]
    assert json.loads((tmp_path / "generations.json").read_text()) == rows
    table = (tmp_path / "generations.md").read_text().splitlines()
    assert table[0].startswith("| generation | val acc | test acc") and table[2].startswith("| 0 | 50.0% | 40.0%")
    assert len(table) == 6

    finished = FakeTrain()
    run_generations(3, tmp_path, overrides, train_fn=finished)
    assert finished.configs == []


def test_an_existing_teacher_replaces_generation_zero(tmp_path):
    fake = FakeTrain()
    rows = run_generations(1, tmp_path, [], teacher="given.ckpt", train_fn=fake)
    assert len(fake.configs) == 1 and fake.configs[0].distill.teacher.checkpoint == "given.ckpt"
    assert rows[0]["checkpoint"] == "given.ckpt" and rows[1]["generation"] == 1


def test_arguments(tmp_path, capsys):
    assert parse_args(["generations=2", f"dir={tmp_path}", "seed=3"]) == (2, tmp_path, None, ["seed=3"])
    for argv in (["dir=x"], ["generations=0", "dir=x"], ["generations=2"], ["generations=2", "dir=x", "oops"]):
        with pytest.raises(ConfigError):
            parse_args(argv)
    with pytest.raises(SystemExit):
        main(["generations=2"])
    assert capsys.readouterr().err.startswith("error: dir=OUT is required")
