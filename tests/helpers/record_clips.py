"""A callback that records which clips each process trained and validated on (distributed tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback


class RecordClips(Callback):
    """Writes ``clips_rank<R>.json`` ({"train": [...], "val": [...]}) into ``output_dir`` at the end of fit."""

    def __init__(self, output_dir: str) -> None:
        self.output_dir = Path(output_dir)
        self.clips: dict[str, list[str]] = {"train": [], "val": []}

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                           batch: Any, batch_idx: int) -> None:
        self.clips["train"] += batch["path"]

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                                batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if not trainer.sanity_checking:
            self.clips["val"] += batch["path"]

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / f"clips_rank{trainer.global_rank}.json").write_text(json.dumps(self.clips))
