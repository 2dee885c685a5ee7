"""Compose the objects of a training run from its config and run fit + test."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.loggers import Logger

from lipreading.callbacks.run_metadata import RunMetadata
from lipreading.utils.io import atomic_write_json

log = logging.getLogger(__name__)


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a name -> config mapping (callbacks, loggers)."""
    if not group:
        return []
    return [hydra.utils.instantiate(conf) for conf in group.values() if conf and "_target_" in conf]


def build_task(cfg: DictConfig) -> pl.LightningModule:
    """The LightningModule of ``cfg.task`` around the network of ``cfg.model``."""
    net = hydra.utils.instantiate(cfg.model)
    return hydra.utils.instantiate(cfg.task, net=net)


def build_trainer(cfg: DictConfig, extra_callbacks: list[Callback] = ()) -> pl.Trainer:
    callbacks = instantiate_group(cfg.get("callbacks")) + list(extra_callbacks)
    loggers: list[Logger] = instantiate_group(cfg.get("logger"))
    return hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)


def train(cfg: DictConfig) -> dict[str, float]:
    """Train (and test) as ``cfg`` says; return the final metrics, also saved as metrics.json."""
    pl.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    task = build_task(cfg)
    trainer = build_trainer(cfg, [RunMetadata(config)])
    log.info("model: %s parameters", f"{sum(p.numel() for p in task.parameters()):,}")

    start = time.perf_counter()
    trainer.fit(task, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    metrics["train_seconds"] = time.perf_counter() - start

    if cfg.get("test"):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        results = trainer.test(task, datamodule=datamodule, ckpt_path=best or None)
        metrics.update({k: float(v) for k, v in results[0].items()})
        metrics["best_checkpoint"] = best
    metrics["total_seconds"] = time.perf_counter() - start
    atomic_write_json(output_dir / "metrics.json", metrics)
    log.info("metrics: %s", metrics)
    return metrics
