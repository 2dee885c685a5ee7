"""Store what is needed to rebuild a run inside every checkpoint it writes."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback


class RunMetadata(Callback):
    """Adds the composed config and the class names to each checkpoint.

    ``eval.py ckpt=...`` and ``infer.py`` rebuild the model from ``checkpoint["config"]`` and
    print words from ``checkpoint["vocabulary"]`` without the training overrides or data.
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint["config"] = self.config
        datamodule = trainer.datamodule
        if datamodule is not None and hasattr(datamodule, "vocabulary"):
            checkpoint["vocabulary"] = list(datamodule.vocabulary)
