import copy
from functools import partial

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import EMAWeightAveraging
from torch.utils.data import DataLoader

from lipreading.data.datamodules import WordDataModule
from lipreading.data.synthetic import default_vocabulary
from lipreading.data.transforms import EvalVideoTransform, TrainVideoTransform
from lipreading.models.backends.tcn import TemporalConvNet
from lipreading.models.classifier import WordClassifierNet
from lipreading.models.frontends.small import SmallFrontend
from lipreading.run.build import build_task, restore_task
from lipreading.run.checkpoint import read_checkpoint
from lipreading.run.teachers import load_teacher
from lipreading.run.train import train
from lipreading.tasks.distillation import DistillationTask
from lipreading.tasks.teachers import FrozenTeacher
from lipreading.tasks.word_classification import WordClassificationTask
from lipreading.utils.errors import ConfigError
from lipreading.utils.errors import _user_error as _first_user_error
from tests.conftest import write_word_dataset
from tests.helpers.teachers import write_teacher

WORDS = ["ABOUT", "AFTER", "BLACK"]


def _net(num_classes=3, width=16, seed=0):
    torch.manual_seed(seed)
    backend = partial(TemporalConvNet, branch_channels=width, num_layers=1, dropout=0.0, activation="relu")
    return WordClassifierNet(SmallFrontend(stem_channels=8, stages=((width, 2),)), backend, num_classes, dropout=0.1)


def _teacher(num_classes=3, vocabulary=WORDS):
    return FrozenTeacher(_net(num_classes, width=24, seed=1), EvalVideoTransform(20, 0.421, 0.165), vocabulary, "t")


def _batch(size=6, num_classes=3):
    torch.manual_seed(0)
    raw = torch.randint(0, 256, (size, 10, 24, 24), dtype=torch.uint8)
    return {"video": TrainVideoTransform(20, 0.421, 0.165)(raw, torch.full((size,), 10)), "raw_video": raw,
            "lengths": torch.tensor([10, 10, 7, 10, 9, 10][:size]), "label": torch.arange(size) % num_classes,
            "path": [f"clip{i}" for i in range(size)], "skipped": 0}


def _quiet(task):
    task.log = lambda *a, **k: None
    task.log_dict = lambda *a, **k: None
    return task


@pytest.mark.parametrize("mixup_alpha", [0.0, 0.4])
def test_alpha_zero_is_exactly_the_word_task(mixup_alpha):
    net = _net()
    optimizer = partial(torch.optim.AdamW, lr=1e-3)
    plain = _quiet(WordClassificationTask(copy.deepcopy(net), optimizer, label_smoothing=0.1, mixup_alpha=mixup_alpha))
    distill = _quiet(DistillationTask(copy.deepcopy(net), _teacher(), optimizer, label_smoothing=0.1,
                                        mixup_alpha=mixup_alpha, alpha=0.0, temperature=4.0))
    losses = []
    for task in (plain, distill):
        torch.manual_seed(3)  # dropout and mixup draw the same numbers in both
        loss = task.training_step(_batch(), 0)
        loss.backward()
        losses.append(loss)
    assert losses[0].item() == losses[1].item()
    for a, b in zip(plain.net.parameters(), distill.net.parameters()):
        assert torch.equal(a.grad, b.grad)


def test_loss_is_ce_plus_alpha_kd_and_parts_are_logged():
    task = DistillationTask(_net(), _teacher(), partial(torch.optim.AdamW, lr=1e-3), alpha=0.7, temperature=2.0)
    logged = {}
    task.log = lambda name, value, **k: logged.__setitem__(name, value)
    task.log_dict = lambda *a, **k: None
    loss = task.training_step(_batch(), 0)
    assert {"train/loss", "train/loss_ce", "train/loss_kd"} <= set(logged)
    assert loss.item() == pytest.approx((logged["train/loss_ce"] + 0.7 * logged["train/loss_kd"]).item())
    assert logged["train/loss_kd"].item() > 0


@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_teacher_is_frozen_and_outside_the_task(tmp_path, precision):
    """A real fit with mixed precision, gradient accumulation and EMA leaves the teacher unchanged,
    in eval mode, out of the optimiser, the averaged model and the checkpoint."""
    teacher = _teacher()
    before = copy.deepcopy(teacher.net.state_dict())
    task = DistillationTask(_net(), teacher, partial(torch.optim.AdamW, lr=1e-2), alpha=1.0, temperature=2.0)
    ema = EMAWeightAveraging(decay=0.5)
    trainer = pl.Trainer(max_steps=3, accumulate_grad_batches=2, precision=precision, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path, callbacks=[ema],
                         enable_checkpointing=False)
    trainer.fit(task, DataLoader([_batch()] * 6, batch_size=None))
    assert trainer.global_step == 3
    assert all(torch.equal(before[k], v) for k, v in teacher.net.state_dict().items())
    assert not teacher.net.training and not any(p.requires_grad for p in teacher.net.parameters())
    assert sum(p.numel() for p in task.parameters()) == sum(p.numel() for p in task.net.parameters())
    assert ema._average_model.module.teacher is teacher  # shared, not copied into the average
    trainer.save_checkpoint(tmp_path / "student.ckpt")
    state = torch.load(tmp_path / "student.ckpt", weights_only=False)["state_dict"]
    assert state and all(k.startswith("net.") for k in state)


def test_vocabulary_mismatch_stops_before_training(tmp_path):
    write_word_dataset(tmp_path / "data", ["ABOUT", "AFTER", "BLOCK"], per_split=2, size=24)
    transform = EvalVideoTransform(20, 0.421, 0.165)
    datamodule = WordDataModule(str(tmp_path / "data"), 3, transform, transform, batch_size=2)
    task = DistillationTask(_net(), _teacher(), partial(torch.optim.AdamW, lr=1e-3))
    trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, default_root_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"class 2 as 'BLACK' but the data has 'BLOCK'"):
        trainer.fit(task, datamodule=datamodule)
    assert trainer.global_step == 0


def test_class_count_mismatch_is_a_config_error():
    with pytest.raises(ConfigError, match="4 classes but the student has 3"):
        DistillationTask(_net(3), _teacher(4, WORDS + ["X"]), partial(torch.optim.AdamW, lr=1e-3))


def test_cached_teacher_logits_equal_the_live_teacher(tmp_path):
    """The cache is computed once (then read), keyed by clip path, on the clean clips."""
    write_word_dataset(tmp_path / "data", WORDS, per_split=4, size=24)
    ckpt = write_teacher(tmp_path / "teacher" / "t.ckpt", WORDS,
                         ("data.train_transform.crop_size=20", "data.frame_size=24"))
    transform = EvalVideoTransform(20, 0.421, 0.165)
    datamodule = WordDataModule(str(tmp_path / "data"), 3, TrainVideoTransform(20, 0.421, 0.165), transform,
                                batch_size=4)
    live = load_teacher(str(ckpt))
    seen = []

    def fit():
        task = DistillationTask(_net(), load_teacher(str(ckpt)), partial(torch.optim.AdamW, lr=1e-3),
                                  cache_teacher_logits=True)
        original = task.training_losses

        def spy(logits, batch, mixup):
            seen.append((task.teacher(batch), live(batch)))
            return original(logits, batch, mixup)

        task.training_losses = spy
        pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False, enable_checkpointing=False,
                   default_root_dir=tmp_path).fit(task, datamodule=datamodule)
        return type(task.teacher).__name__

    assert fit() == "CachedTeacher"
    files = list((tmp_path / "teacher" / "teacher_logits").glob("t-train-*.pt"))
    assert len(files) == 1
    mtime = files[0].stat().st_mtime_ns
    fit()
    assert files[0].stat().st_mtime_ns == mtime  # read, not recomputed
    assert len(seen) == 6
    for cached, computed in seen:
        torch.testing.assert_close(cached, computed)


def test_distillation_configs_build_with_a_teacher(compose_train, tmp_path):
    """task=distillation wraps the word task's options (its recipe) around a frozen teacher of any architecture."""
    ckpt = write_teacher(tmp_path / "teacher" / "t.ckpt", [f"w{i}" for i in range(20)])
    kd = build_task(compose_train("task=distillation", f"task.teacher.checkpoint={ckpt}", "task.alpha=0.3",
                                  "task.optimizer.lr=1e-4", "task.mixup_alpha=0.4"))
    assert isinstance(kd, DistillationTask) and kd.alpha == 0.3 and kd.temperature == 4.0
    assert kd.label_smoothing == 0.1 and kd.mixup_alpha == 0.4 and kd.optimizer_factory.keywords["lr"] == 1e-4
    assert sum(p.numel() for p in kd.net.parameters()) > 10 * sum(p.numel() for p in kd.teacher.net.parameters())
    t1 = build_task(compose_train("task=distillation_t1", f"task.teacher.checkpoint={ckpt}"))
    assert (t1.alpha, t1.temperature) == (1.0, 1.0)


def test_the_word_task_alone_takes_the_same_recipe(compose_train):
    """The baselines of a distillation recipe: task=word_classification keeps the experiment's task settings."""
    for experiment in ("distill_shufflenet_dsmstcn_lrw", "distill_born_again_lrw"):
        cfg = compose_train(f"experiment={experiment}", "task=word_classification")
        assert cfg.task._target_.endswith("WordClassificationTask") and "teacher" not in cfg.task
        assert cfg.task.optimizer.lr == 3.0e-4 and cfg.task.label_smoothing == 0.0
        assert cfg.task.scheduler.warmup_epochs == 0.0 and cfg.trainer.max_epochs == 80
        distilled = compose_train(f"experiment={experiment}")
        assert {k: v for k, v in distilled.task.items() if k not in ("teacher", "alpha", "temperature",
                                                                      "cache_teacher_logits", "_target_")} == \
            {k: v for k, v in cfg.task.items() if k != "_target_"}
        assert (distilled.task.alpha, distilled.task.temperature) == (1.0, 1.0)


def _user_error(call):
    """The user-fixable error a call raises (Hydra wraps the errors of instantiated targets)."""
    with pytest.raises(Exception) as info:
        call()
    error = _first_user_error(info.value)
    assert isinstance(error, ConfigError), info.value
    return str(error)


@pytest.mark.parametrize("task", ["distillation", "distillation_t1"])
def test_distillation_without_a_teacher_is_a_config_error(compose_train, tmp_path, task):
    assert "task.teacher.checkpoint=PATH" in _user_error(lambda: build_task(compose_train(f"task={task}")))
    missing = compose_train(f"task={task}", f"task.teacher.checkpoint={tmp_path / 'nope.ckpt'}")
    assert "nope.ckpt not found" in _user_error(lambda: build_task(missing))


def test_train_distils_and_stores_a_plain_student_checkpoint(compose_train, tmp_path):
    """train() with task=distillation writes checkpoints that evaluation rebuilds without the teacher."""

    ckpt = write_teacher(tmp_path / "teacher" / "t.ckpt", default_vocabulary(3))
    cfg = compose_train("data.num_classes=3", "data.clips_per_word={train:8,val:3,test:3}", "data.batch_size=4",
                        "trainer.max_epochs=1", "task=distillation", f"task.teacher.checkpoint={ckpt}",
                        "task.cache_teacher_logits=true", "callbacks.progress_bar.refresh_rate=0")
    metrics = train(cfg)
    assert 0.0 <= metrics["test/acc"] <= 1.0 and "train/loss_kd" in metrics
    student = read_checkpoint(metrics["best_checkpoint"])
    assert student.config["task"]["_target_"] == "lipreading.tasks.word_classification.WordClassificationTask"
    assert "teacher" not in student.config["task"] and student.config["task"]["mixup_alpha"] == 0.0
    assert student.config["distilled_from"]["teacher"]["checkpoint"] == str(ckpt)
    assert student.kind == "word" and student.vocabulary == default_vocabulary(3)
    task, _ = restore_task(student)
    assert type(task) is WordClassificationTask
