"""What every checkpoint of a training run carries (config, record, environment), written by one callback."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from lipreading.run.checkpoint import RECORD_KEY, UNIT_KINDS
from lipreading.utils.io import atomic_write_json

PACKAGES = ("lipreading", "torch", "torchvision", "pytorch-lightning", "hydra-core", "omegaconf",
            "torchmetrics", "timm", "numpy", "opencv-contrib-python", "mediapipe", "wandb")


def git_commit(directory: Path) -> str | None:
    """The commit of the checkout holding ``directory`` (``+dirty`` with uncommitted changes), if any."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=directory,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")


def environment() -> dict[str, Any]:
    """Python, platform, package versions and git commit of this code."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
        "git_commit": git_commit(Path(__file__).resolve().parent),
        "command": sys.argv,
    }


class RunMetadata(Callback):
    """Writes every checkpoint's config, record and environment: the one place a checkpoint gets them.

    ``checkpoint["config"]`` is the composed training config (``eval.py ckpt=...`` rebuilds the run
    from it), ``checkpoint["lipreading"]`` the record of :mod:`lipreading.run.checkpoint` (its kind,
    input, and the vocabulary of word runs or the units of sentence runs, read from the datamodule
    when the checkpoint is saved). The config and the environment also go to ``run_info.json`` in the
    run directory when training starts, and a sentence run's units to ``checkpoints/tokenizer.json``.
    """

    def __init__(self, config: dict[str, Any], record: dict[str, Any], output_dir: str | None = None,
                 run_environment: dict[str, Any] | None = None) -> None:
        self.config = config
        self.record = record
        self.output_dir = Path(output_dir) if output_dir else None
        self.environment = run_environment or environment()

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.output_dir is not None and trainer.is_global_zero:
            atomic_write_json(self.output_dir / "run_info.json", {"environment": self.environment, "config": self.config})
        checkpoints = trainer.checkpoint_callback
        if self.record["kind"] in UNIT_KINDS and checkpoints is not None and checkpoints.dirpath and trainer.is_global_zero:
            trainer.datamodule.tokenizer.save(Path(checkpoints.dirpath) / "tokenizer.json")

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint["config"] = self.config
        checkpoint[RECORD_KEY] = self.completed_record(trainer.datamodule)
        checkpoint["environment"] = self.environment

    def completed_record(self, datamodule: Any) -> dict[str, Any]:
        """The record with what the prepared data knows: a word run's vocabulary, a sentence run's units."""
        kind = self.record["kind"]
        return {
            **self.record,
            "vocabulary": list(datamodule.vocabulary) if kind == "word" else None,
            "units": datamodule.tokenizer.to_dict() if kind in UNIT_KINDS else None,
        }
