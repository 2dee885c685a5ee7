"""A run that fits a wall-clock budget: the number of optimisation steps is fixed once, from a measurement.

After a short warm-up (``skip_steps`` start-up steps, then ``measure_steps`` timed ones, fewer if the
learning-rate warm-up ends sooner) the callback
derives the run's total number of steps from what is left of the budget: the time already spent
(start-up, data generation, sanity check, the warm-up itself), the validations still to come and the
test, each estimated from measured seconds per batch. That count then becomes ``max_steps`` and the
schedule's ``total_steps``, so the learning-rate schedule (warm-up + cosine over steps) is a fixed
function of it; it is stored in the checkpoints, so a resumed run keeps the same schedule and stops at
the same step. A slower machine gets fewer steps (a little accuracy), not more minutes.

The measurement is 100 steps by default: on a shared machine, blocks of 25 steps of one network on one fixed
batch vary by +-10% (measured: 0.149 to 0.177 s), and 30 timed steps underestimated whole runs by up to 19%
(the demo: 0.088 s measured, 0.105 s had). It ends
before the warm-up does (so the cosine is fitted before it starts) and so before the first step checkpoint of
the default callbacks (every 200 steps), so that a resumed run finds the count stored.
At the end of training the callback logs the pace it planned against the pace the run had.

NOTE: the count is fixed once and not revised, so the schedule stays a function of the step alone (exact
resume). A machine that becomes much busier after the warm-up would overrun: as a backstop the run that
fixed the count stops early (with a warning) when only the time of its last validation and the test is
left; a resumed run follows the stored count to its end.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from lipreading.utils.errors import ConfigError

log = logging.getLogger(__name__)

MIN_MEASURED_STEPS = 5  # the fewest timed steps when the warm-up is short


def budgeted_steps(
    seconds_left: float,
    step_seconds: float,
    steps_per_epoch: int,
    validation_seconds: float,
    test_seconds: float,
    steps_done: int = 0,
) -> int:
    """The total number of optimisation steps that fits ``seconds_left`` (counted from ``steps_done``).

    Every started epoch ends with one validation (``validation_seconds``), the test follows once;
    the result counts from step 0 and is at least ``steps_done + 1``.
    """
    step_seconds = max(step_seconds, 1e-9)
    available = seconds_left - test_seconds
    rest_of_epoch = steps_per_epoch - steps_done % steps_per_epoch
    steps = steps_done
    if available >= rest_of_epoch * step_seconds + validation_seconds:  # the current epoch, then whole ones
        available -= rest_of_epoch * step_seconds + validation_seconds
        epoch_seconds = steps_per_epoch * step_seconds + validation_seconds
        whole_epochs = int(available // epoch_seconds)
        available -= whole_epochs * epoch_seconds
        steps += rest_of_epoch + whole_epochs * steps_per_epoch
    # Then a part of an epoch, and its (the last) validation.
    steps += max(0, int((available - validation_seconds) / step_seconds))
    return max(steps, steps_done + 1)


class TimeBudget(Callback):
    """Fixes the run's number of optimisation steps so that the whole run fits ``minutes`` of wall time.

    ``started_at`` (a ``clock()`` reading, default: when the callback is built) is when the budget starts;
    ``reserve_seconds`` covers what no measurement sees: the test's set-up (restoring the best checkpoint, loading
    the test clips), writing metrics, exit (on one core the run that fixed its count at 10 s ended 2 s late);
    ``test``: the run tests after training (its time is reserved).
    Validation and test times come from the sanity check's seconds per batch after its first batch (or, without
    a sanity check, from the training steps' seconds per clip). The first batch also pays for the loader's
    set-up and the first evaluation's warm-up: counting it, the Mandarin sentence recipe planned 9.4 s a
    validation where its validations took 3.6 s (timed batch by batch: the first sanity batch 1.30 s, the
    second 0.93 s, the validation's later batches of the same shapes 0.78-0.95 s). The untrained decoder of
    an attention model also decodes to its maximum length in the sanity check, so its validations are
    still overestimated (the English recipe: 26 s planned, 14 s taken): the run ends early, not late.
    """

    def __init__(
        self,
        minutes: float,
        started_at: float | None = None,
        skip_steps: int = 5,
        measure_steps: int = 100,
        reserve_seconds: float = 20.0,
        test: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if minutes <= 0:
            raise ConfigError(f"trainer.time_budget={minutes!r} must be a positive number of minutes (or null)")
        self.minutes = float(minutes)
        self.clock = clock
        self.started_at = clock() if started_at is None else started_at
        self.skip_steps = skip_steps
        self.measure_steps = measure_steps
        self.reserve_seconds = reserve_seconds
        self.test = test
        self.total_steps: int | None = None
        self.derivation: dict[str, float] = {}
        self._eval_batch_seconds: float | None = None
        self._sanity_started: float | None = None
        self._sanity_batches = 0
        self._first_sanity_batch_ended = 0.0
        self._measure_started: float | None = None
        self._measure_from_step = 0
        self._measure_until: int | None = None  # the step that ends the measurement early (the warm-up's end)
        self._pace: dict[str, float] = {"train_seconds": 0.0, "steps": 0, "validation_seconds": 0.0, "validations": 0}
        self._segment_started: tuple[float, int] | None = None  # (clock, global step) of this stretch of training
        self._validation_started: float | None = None
        self._deadline: float | None = None  # clock reading by which training must end (backstop)

    # -- what the checkpoints keep
    def state_dict(self) -> dict[str, Any]:
        return {"total_steps": self.total_steps, "derivation": dict(self.derivation)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.total_steps = state_dict.get("total_steps")
        self.derivation = dict(state_dict.get("derivation") or {})

    # -- validation cost, from the sanity check
    def on_sanity_check_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._sanity_started, self._sanity_batches = self.clock(), 0

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any,
                                **kwargs: Any) -> None:
        if trainer.sanity_checking:
            self._sanity_batches += 1
            if self._sanity_batches == 1:
                self._first_sanity_batch_ended = self.clock()

    def on_sanity_check_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._sanity_started is None or not self._sanity_batches:
            return
        if self._sanity_batches >= 2:  # the batches after the first, which also pays for the loader's set-up
            self._eval_batch_seconds = (self.clock() - self._first_sanity_batch_ended) / (self._sanity_batches - 1)
        else:
            self._eval_batch_seconds = self.clock() - self._sanity_started

    # -- the pace the run had, against the plan (logged at the end of training)
    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        self._close_segment(trainer)
        self._validation_started = self.clock()

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self._validation_started is None:
            return
        self._pace["validation_seconds"] += self.clock() - self._validation_started
        self._pace["validations"] += 1
        self._validation_started = None
        if self.total_steps is not None:
            self._segment_started = (self.clock(), trainer.global_step)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._close_segment(trainer)
        pace, plan = self._pace, self.derivation
        if not pace["steps"] or "step_seconds" not in plan:
            return
        step_seconds = pace["train_seconds"] / pace["steps"]
        planned_validation = plan["validation_batches"] * plan["eval_batch_seconds"]
        validation = pace["validation_seconds"] / pace["validations"] if pace["validations"] else float("nan")
        log.info("time budget: planned %.3f s/step and %.1f s a validation; after the measurement the run took "
                 "%.3f s/step over %d steps (%+.0f%%) and %.1f s a validation over %d", plan["step_seconds"],
                 planned_validation, step_seconds, pace["steps"], 100 * (step_seconds / plan["step_seconds"] - 1),
                 validation, pace["validations"])

    def _close_segment(self, trainer: pl.Trainer) -> None:
        if self._segment_started is not None:
            started, step = self._segment_started
            self._pace["train_seconds"] += self.clock() - started
            self._pace["steps"] += trainer.global_step - step
            self._segment_started = None

    # -- the training steps
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.total_steps is not None:  # resumed: the schedule fixed by the first run
            self._apply(trainer)
            self._segment_started = (self.clock(), trainer.global_step)
            return
        warmup = getattr(_schedule_factor(trainer), "warmup_steps", None)
        fixed_at = trainer.global_step + self.skip_steps + self.measure_steps
        if warmup is not None and warmup < fixed_at:  # measure fewer steps, so the cosine is fitted before it starts
            self._measure_until = max(trainer.global_step + self.skip_steps + MIN_MEASURED_STEPS, warmup)
            fixed_at = self._measure_until
        if warmup is not None and warmup < fixed_at < trainer.estimated_stepping_batches:
            log.warning("the learning-rate warm-up (%d steps) ends before trainer.time_budget fixes the number of "
                        "steps (at step %d): until then the cosine runs over trainer.max_epochs", warmup, fixed_at)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any,
                           **kwargs: Any) -> None:
        if self.total_steps is not None:
            if trainer.global_step >= self.total_steps:
                trainer.should_stop = True  # stops here, after one last validation
            elif self._deadline is not None and self.clock() > self._deadline:
                log.warning("time budget: the steps are slower than measured; stopping at step %d of %d to keep "
                            "the budget", trainer.global_step, self.total_steps)
                trainer.should_stop = True
            return
        if self._measure_started is None:
            if trainer.global_step >= self.skip_steps:
                self._measure_started, self._measure_from_step = self.clock(), trainer.global_step
            return
        measured = trainer.global_step - self._measure_from_step
        if measured >= self.measure_steps or (self._measure_until is not None and trainer.global_step >= self._measure_until):
            self._fix(trainer, (self.clock() - self._measure_started) / measured, measured)

    def _fix(self, trainer: pl.Trainer, step_seconds: float, measured: int) -> None:
        steps_per_epoch = int(trainer.num_training_batches) // max(1, trainer.accumulate_grad_batches)
        val_batches = int(sum(trainer.num_val_batches)) if trainer.num_val_batches else 0
        test_batches = _test_batches(trainer) if self.test else 0
        batch_seconds = self._eval_batch_seconds
        if batch_seconds is None:  # no sanity check: a training step per eval batch, scaled by clips
            datamodule = trainer.datamodule
            clips = 1.0 if datamodule is None else datamodule.eval_batch_size / datamodule.batch_size
            batch_seconds = step_seconds * clips
        seconds_left = self.minutes * 60 - (self.clock() - self.started_at) - self.reserve_seconds
        cap = int(trainer.estimated_stepping_batches)  # trainer.max_epochs still caps the run
        budgeted = budgeted_steps(seconds_left, step_seconds, steps_per_epoch, val_batches * batch_seconds,
                                  test_batches * batch_seconds, trainer.global_step)
        self.total_steps = min(budgeted, cap)
        self._deadline = (self.started_at + self.minutes * 60 - self.reserve_seconds
                          - (val_batches + test_batches) * batch_seconds)
        self.derivation = {
            "budget_seconds": self.minutes * 60, "seconds_left": round(seconds_left, 1),
            "step_seconds": round(step_seconds, 4), "eval_batch_seconds": round(batch_seconds, 4),
            "measured_steps": measured,
            "steps_per_epoch": steps_per_epoch, "validation_batches": val_batches, "test_batches": test_batches,
            "budgeted_steps": budgeted, "max_epochs_steps": cap,
        }
        log.info(
            "time budget %.1f min: %.1f s left, %.3f s/step over %d steps, %.3f s per eval batch "
            "(%d validation, %d test batches): %d optimisation steps (%.2f epochs)%s",
            self.minutes, seconds_left, step_seconds, measured, batch_seconds, val_batches,
            test_batches, self.total_steps, self.total_steps / steps_per_epoch,
            f", capped by trainer.max_epochs={trainer.max_epochs}" if cap < budgeted else "",
        )
        self._apply(trainer)
        self._segment_started = (self.clock(), trainer.global_step)

    def _apply(self, trainer: pl.Trainer) -> None:
        """``total_steps`` becomes the loop's ``max_steps`` and the schedule's length."""
        trainer.fit_loop.epoch_loop.max_steps = self.total_steps
        factor = _schedule_factor(trainer)
        if factor is not None and hasattr(factor, "total_steps"):
            factor.total_steps = self.total_steps
            warmup = getattr(factor, "warmup_steps", 0)
            if warmup > self.total_steps // 2:  # so few steps fit that the warm-up would take them all
                factor.warmup_steps = max(trainer.global_step + 1, self.total_steps // 5)
                log.warning("time budget: %d steps fit, the warm-up is shortened from %d to %d steps",
                            self.total_steps, warmup, factor.warmup_steps)
        if trainer.global_step >= self.total_steps:
            trainer.should_stop = True


def _schedule_factor(trainer: pl.Trainer) -> Any:
    """The step -> LR-factor object of the run's (first) LambdaLR schedule, or None."""
    for config in trainer.lr_scheduler_configs:
        lambdas = getattr(config.scheduler, "lr_lambdas", None)
        if lambdas:
            return lambdas[0]
    return None


def _test_batches(trainer: pl.Trainer) -> int:
    """How many test batches the run's final test will take (0 if the datamodule has no test split)."""
    datamodule = trainer.datamodule
    if datamodule is None or not hasattr(datamodule, "setup_split"):
        return 0
    datamodule.setup_split("test")
    return len(datamodule.dataloader("test"))
