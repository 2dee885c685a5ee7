"""Callbacks that stop a training run after a given step, as a kill would (crash tests)."""

import os
import signal
from pathlib import Path

from pytorch_lightning.callbacks import Callback


class KillAtStep(Callback):
    """SIGKILLs its own process after optimizer step ``step`` (nothing runs after: no handler, no save)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class SimulatedCrash(BaseException):
    """Raised by :class:`CrashAtStep`; a BaseException, so that no ``except Exception`` catches it."""


class CrashAtStep(Callback):
    """Stops an in-process run after optimizer step ``step`` by raising :class:`SimulatedCrash`.

    It stands in for a kill in tests that run training in the test process (no process start,
    no imports: seconds instead of tens of seconds): Lightning writes no checkpoint on the way out
    (no callback saves on exceptions here), so the run dir holds what a kill would leave, and the
    resumed run starts from it in a new Trainer, as a new process would.

    ``stage=NAME`` crashes only the stage NAME of a staged run (the run whose output dir is named so).
    """

    def __init__(self, step: int, stage: str | None = None) -> None:
        self.step, self.stage = step, stage

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.stage is not None and Path(trainer.default_root_dir).name != self.stage:
            return
        if trainer.global_step >= self.step:
            raise SimulatedCrash(f"crashed after step {trainer.global_step}")
