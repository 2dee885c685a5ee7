"""trainer.time_budget: the number of steps derived once, the schedule fitted to it, kept across a resume."""

import math
import random
import sys
import time
from functools import partial

import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

from lipreading.callbacks.time_budget import TimeBudget, budgeted_steps
from lipreading.run.build import build_trainer
from lipreading.tasks.optim import configure_optimizers
from lipreading.utils.clock import process_started_at
from lipreading.utils.schedules import warmup_cosine
from tests.test_configs import CONF


def test_budgeted_steps_counts_validations_and_the_test():
    # 100 s, 1 s/step, 30 steps/epoch, 5 s per validation, 10 s test: two whole epochs (35 s each),
    # then 20 s: 15 steps and the last validation.
    assert budgeted_steps(100, 1.0, 30, 5.0, 10.0) == 75
    # Counted from step 10 (already taken): the rest of epoch 0 is 20 steps.
    # 90 s: 20 steps + validation (25 s), an epoch (35 s), then (30 - 5) s: 25 steps.
    assert budgeted_steps(100, 1.0, 30, 5.0, 10.0, steps_done=10) == 85
    # Twice the seconds per step: one epoch (65 s), then (25 - 5) / 2 = 10 steps.
    assert budgeted_steps(100, 2.0, 30, 5.0, 10.0) == 40
    # Nothing left: at least one more step than taken.
    assert budgeted_steps(-5, 1.0, 30, 5.0, 10.0, steps_done=12) == 13


def test_budgeted_steps_is_the_most_that_fits():
    def cost(steps, done, per_epoch, step_s, val_s, test_s):  # steps, one validation per epoch touched, test
        validations = math.ceil(steps / per_epoch) - done // per_epoch
        return (steps - done) * step_s + validations * val_s + test_s

    rng = random.Random(0)
    for _ in range(300):
        per_epoch, step_s = rng.randint(1, 50), rng.uniform(0.01, 2.0)
        val_s, test_s, done = rng.uniform(0, 20), rng.uniform(0, 30), rng.randint(0, 120)
        left = rng.uniform(0, 2000)
        steps = budgeted_steps(left, step_s, per_epoch, val_s, test_s, steps_done=done)
        if steps > done + 1:
            assert cost(steps, done, per_epoch, step_s, val_s, test_s) <= left + 1e-6
        assert cost(steps + 1, done, per_epoch, step_s, val_s, test_s) > left - 1e-6


def _compose(*overrides):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose("train", overrides=["paths.output_dir=/tmp/unused", *overrides])


def _budgets(trainer):
    return [c for c in trainer.callbacks if isinstance(c, TimeBudget)]


@pytest.mark.parametrize("overrides, minutes", [([], 10), (["trainer.time_budget=2.5"], 2.5),
                                                (["trainer=default"], None), (["trainer.time_budget=null"], None)])
def test_time_budget_comes_from_the_trainer_config(overrides, minutes):
    cfg = _compose("logger=none", "callbacks=none", *overrides)
    trainer = build_trainer(cfg)
    budgets = _budgets(trainer)
    assert [b.minutes for b in budgets] == ([] if minutes is None else [minutes])


class _Regression(pl.LightningModule):
    """One linear layer on fixed data; AdamW + warm-up cosine through the tasks' own factory."""

    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(4, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self):
        return configure_optimizers(self, partial(torch.optim.AdamW, lr=0.1),
                                    partial(warmup_cosine, warmup_epochs=1.0))


class _StepClock(Callback):
    """A clock that advances ``step`` seconds per training batch (a tenth of it per validation batch):
    the measurement is deterministic."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        return self.now

    def on_train_batch_end(self, *args):
        self.now += self.step

    def on_validation_batch_end(self, *args):
        self.now += self.step / 10


class _LearningRates(Callback):
    def __init__(self) -> None:
        self.rates = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.rates[trainer.global_step] = trainer.optimizers[0].param_groups[0]["lr"]


class _Crash(Exception):
    pass


class _CrashAtStep(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, *args):
        if trainer.global_step >= self.step:
            raise _Crash


def _fit(tmp_path, budget_and_clock, ckpt_path=None, extra=()):
    budget, clock = budget_and_clock
    data = TensorDataset(torch.randn(40, 4), torch.randn(40, 1))
    loader = DataLoader(data, batch_size=4)  # 10 steps per epoch
    rates = _LearningRates()
    callbacks = [clock, budget, rates, ModelCheckpoint(dirpath=tmp_path, save_top_k=0, save_last=True,
                                                every_n_train_steps=5), *extra]
    trainer = pl.Trainer(max_epochs=20, logger=False, enable_progress_bar=False, callbacks=callbacks,
                         default_root_dir=tmp_path, num_sanity_val_steps=2, limit_val_batches=2)
    trainer.fit(_Regression(), loader, loader, ckpt_path=ckpt_path)
    return trainer, rates.rates


def _budget(step_seconds: float) -> tuple[TimeBudget, _StepClock]:
    clock = _StepClock(step_seconds)
    return TimeBudget(0.1, skip_steps=2, measure_steps=3, reserve_seconds=0.0, clock=clock), clock


def test_fixed_step_count_sets_the_schedule_and_survives_a_resume(tmp_path):
    budget = _budget(0.1)
    trainer, rates = _fit(tmp_path / "full", budget)
    budget = budget[0]
    total = budget.total_steps
    assert 30 < total < 200, "the budget, not max_epochs, ends the run"
    assert trainer.global_step == total
    factor = trainer.lr_scheduler_configs[0].scheduler.lr_lambdas[0]
    assert factor.total_steps == total and factor.warmup_steps == 10
    assert rates[total - 1] < 0.01 * rates[10], "the cosine reaches its end at the budgeted step"
    stored = torch.load(tmp_path / "full" / "last.ckpt", weights_only=False)
    assert stored["callbacks"]["TimeBudget"]["total_steps"] == total

    # Crashed after the count was fixed (last checkpoint at step 25), resumed on a machine ten times
    # slower: the resumed run keeps the count, and with it every learning rate.
    with pytest.raises(_Crash):
        _fit(tmp_path / "cut", _budget(0.1), extra=[_CrashAtStep(26)])
    checkpoint = torch.load(tmp_path / "cut" / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == 25 and checkpoint["callbacks"]["TimeBudget"]["total_steps"] == total
    slower = _budget(1.0)
    resumed, resumed_rates = _fit(tmp_path / "cut", slower, ckpt_path=tmp_path / "cut" / "last.ckpt")
    slower = slower[0]
    assert slower.total_steps == total and resumed.global_step == total
    assert resumed.lr_scheduler_configs[0].scheduler.lr_lambdas[0].total_steps == total
    for step in range(25, total):
        assert resumed_rates[step] == pytest.approx(rates[step], rel=1e-12), step
    # Without the stored count the slower clock gives another one: the test above can fail.
    fresh = _budget(1.0)
    _fit(tmp_path / "fresh", fresh)
    assert fresh[0].total_steps < total


def test_a_machine_that_slows_down_after_the_measurement_still_keeps_the_budget(tmp_path):
    budget, clock = _budget(0.1)

    class _Slowdown(Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 10:
                clock.step = 0.5  # five times slower than measured

    trainer, _ = _fit(tmp_path, (budget, clock), extra=[_Slowdown()])
    assert 10 < trainer.global_step < budget.total_steps
    assert clock.now <= 0.1 * 60 + clock.step, "training ended by the budget's deadline"


def test_a_budget_shorter_than_the_warm_up_shortens_the_warm_up(tmp_path):
    # 3 s at 0.2 s per step: under 20 steps fit, and the warm-up (10 steps) would take more than half.
    budget, clock = _budget(0.2)
    budget.minutes = 0.05
    trainer, rates = _fit(tmp_path, (budget, clock))
    factor = trainer.lr_scheduler_configs[0].scheduler.lr_lambdas[0]
    assert budget.total_steps < 20 and factor.warmup_steps == max(6, budget.total_steps // 5)
    assert rates[budget.total_steps - 1] < 0.2 * max(rates.values()), "the cosine still ends the run"


def test_the_budget_of_the_whole_command_starts_with_the_process():
    elapsed = time.monotonic() - process_started_at()
    assert 0.0 <= elapsed < 24 * 3600
    if sys.platform == "linux":  # /proc: this test process started well before this line
        assert elapsed > 0.5


def test_the_measurement_ends_with_a_shorter_warm_up(tmp_path):
    # 100 timed steps asked for, but the warm-up (one epoch: 10 steps) ends at step 10: the count is fixed there,
    # from the 8 steps timed after the 2 skipped, and the cosine runs over it from its start.
    clock = _StepClock(0.1)
    budget = TimeBudget(0.1, skip_steps=2, measure_steps=100, reserve_seconds=0.0, clock=clock)
    trainer, rates = _fit(tmp_path, (budget, clock))
    assert budget.derivation["measured_steps"] == 8 and budget.derivation["step_seconds"] == pytest.approx(0.1)
    factor = trainer.lr_scheduler_configs[0].scheduler.lr_lambdas[0]
    assert factor.total_steps == budget.total_steps == trainer.global_step
    assert rates[budget.total_steps - 1] < 0.01 * rates[10]


def test_the_run_logs_its_pace_against_the_plan(tmp_path, caplog):
    budget, clock = _budget(0.1)  # fixed at step 5 from 0.1 s steps

    class _Slower(Callback):
        def on_train_batch_end(self, trainer, *args):
            if trainer.global_step == 5:
                clock.step = 0.2

    with caplog.at_level("INFO", logger="lipreading.callbacks.time_budget"):
        _fit(tmp_path, (budget, clock), extra=[_Slower()])
    (line,) = [r.getMessage() for r in caplog.records if "planned" in r.getMessage()]
    assert "planned 0.100 s/step" in line and "took 0.200 s/step" in line and "(+100%)" in line, line


def test_the_first_sanity_batch_is_left_out_of_the_evaluation_estimate(tmp_path):
    budget, clock = _budget(0.1)

    class _SlowFirstBatch(Callback):  # the first evaluation batch also pays for a warm-up of 5 s
        def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, *args):
            if trainer.sanity_checking and batch_idx == 0:
                clock.now += 5.0

    _fit(tmp_path, (budget, clock), extra=[_SlowFirstBatch()])
    assert budget.derivation["eval_batch_seconds"] == pytest.approx(0.01)  # a validation batch's 0.1 / 10
