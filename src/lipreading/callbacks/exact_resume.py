"""Exact resume: restore the random generators and the position inside the epoch."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback


def capture_rng_states() -> dict[str, Any]:
    """The states of Python's, NumPy's and torch's (CPU and CUDA) global generators."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    # Plain types and tensors only, so that checkpoints load with torch.load(weights_only=True).
    numpy_state = (kind, torch.from_numpy(keys.astype(np.int64)), int(position), int(has_gauss), float(gauss))
    states = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    kind, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class ExactResume(Callback):
    """Stores the generators' states in checkpoints; on resume restores them and the loaders' position.

    Both are applied when training starts (``on_train_start``), after the sanity-check
    validation and before the first batch is fetched and augmented, so that nothing in
    between can shift them.

    NOTE: Lightning restores the state of stateful loaders itself only when it builds them
    after the checkpoint is loaded; ``trainer.estimated_stepping_batches`` (used by the
    schedules in ``configure_optimizers``) builds them before, so the states saved in
    ``fit_loop.state_dict.combined_loader`` are applied here.
    """

    def __init__(self) -> None:
        self._rng_states: dict[str, Any] | None = None
        self._loader_states: list[dict[str, Any]] = []

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        checkpoint["rng_states"] = capture_rng_states()

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]) -> None:
        self._rng_states = checkpoint.get("rng_states")
        fit_loop = checkpoint.get("loops", {}).get("fit_loop", {})
        self._loader_states = fit_loop.get("state_dict", {}).get("combined_loader", [])

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        loaders = trainer.train_dataloader
        loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
        stateful = [loader for loader in loaders if hasattr(loader, "load_state_dict")]
        for loader, state in zip(stateful, self._loader_states):
            loader.load_state_dict(state)
        self._loader_states = []
        if self._rng_states is not None:
            restore_rng_states(self._rng_states)
            self._rng_states = None
