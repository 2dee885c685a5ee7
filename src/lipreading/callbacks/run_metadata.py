"""Store what is needed to rebuild and reproduce a run inside every checkpoint and its run dir."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

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
    """Adds the composed config, the class names and the environment to each checkpoint.

    ``eval.py ckpt=...`` and ``infer.py`` rebuild the model from ``checkpoint["config"]`` and
    print words from ``checkpoint["vocabulary"]`` (word models) or decode text with
    ``checkpoint["tokenizer"]`` (sentence models, also written as ``checkpoints/tokenizer.json``)
    without the training overrides or data. The same facts are written to ``run_info.json`` in the run directory when training starts.
    """

    def __init__(self, config: dict[str, Any], output_dir: str | None = None) -> None:
        self.config = config
        self.output_dir = Path(output_dir) if output_dir else None
        self.environment = environment()

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.output_dir is not None and trainer.is_global_zero:
            atomic_write_json(self.output_dir / "run_info.json", {"environment": self.environment, "config": self.config})
        # Sentence runs: the tokenizer beside the checkpoints (it is inside each of them too).
        tokenizer = getattr(trainer.datamodule, "tokenizer", None)
        checkpoints = trainer.checkpoint_callback
        if tokenizer is not None and checkpoints is not None and checkpoints.dirpath and trainer.is_global_zero:
            tokenizer.save(Path(checkpoints.dirpath) / "tokenizer.json")

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint["config"] = self.config
        checkpoint["environment"] = self.environment
        datamodule = trainer.datamodule
        if datamodule is not None and hasattr(datamodule, "vocabulary"):
            checkpoint["vocabulary"] = list(datamodule.vocabulary)
        if datamodule is not None and hasattr(datamodule, "tokenizer"):
            checkpoint["tokenizer"] = datamodule.tokenizer.to_dict()
