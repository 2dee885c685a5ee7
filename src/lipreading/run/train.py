"""One training run: fit, then test with the best checkpoint; the final metrics in metrics.json."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import WandbLogger

from lipreading.callbacks.exact_resume import ExactResume
from lipreading.run.build import build_task, build_trainer, initialise, stored_config
from lipreading.run.checkpoint import UNIT_KINDS, read_checkpoint, training_record
from lipreading.run.metadata import RunMetadata, environment
from lipreading.utils.errors import ConfigError
from lipreading.utils.io import atomic_write_json
from lipreading.utils.resume import resolve_ckpt_path
from lipreading.utils.run_lock import RunDirLock
from lipreading.utils.validation import validate_training_config

log = logging.getLogger(__name__)


def objective(metrics: dict[str, Any], cfg: DictConfig) -> float | None:
    """The run's headline figure: the checkpoint's monitored metric on the test split (else val).

    ``test/acc`` for word models, ``test/cer`` for sentence models: what a Hydra sweeper
    optimises (in the direction of the checkpoint callback's ``mode``).
    """
    monitor = OmegaConf.select(cfg, "callbacks.model_checkpoint.monitor", default=None) or "val/acc"
    name = monitor.split("/", 1)[-1]
    value = metrics.get(f"test/{name}", metrics.get(f"val/{name}"))
    return None if value is None else float(value)


def check_resumable(ckpt_path: str) -> None:
    """``ckpt_path=`` continues one of our own runs; an imported checkpoint (no optimizer state) is refused."""
    origin = read_checkpoint(ckpt_path).record["origin"]["by"]
    if origin != "train.py":
        raise ConfigError(f"ckpt_path={ckpt_path} was written by {origin}, not by a training run, so there is no "
                          f"run to resume; start from its weights with init_from.model={ckpt_path}")


def finish_wandb_runs(trainer: pl.Trainer) -> None:
    """End the W&B runs of ``trainer``'s loggers.

    NOTE: Lightning's WandbLogger leaves its run open until the process exits, and a later WandbLogger in
    the same process reuses an open run: a Hydra sweep's next job (the basic launcher runs the jobs in one
    process), a staged run's next stage or a born-again generation would log into the first one's run.
    """
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and getattr(logger, "_experiment", None) is not None:
            logger.experiment.finish()


def train(cfg: DictConfig, started_at: float | None = None) -> dict[str, float]:
    """Train (and test) as ``cfg`` says; return the final metrics, also saved as metrics.json.

    ``started_at`` (a ``time.monotonic()`` reading, default now) is where ``trainer.time_budget`` starts.
    One run at a time per run dir: a second one is refused while the first holds its lock.
    """
    started_at = time.monotonic() if started_at is None else started_at
    validate_training_config(cfg)
    with RunDirLock(cfg.paths.output_dir):
        return _train(cfg, started_at)


def _train(cfg: DictConfig, started_at: float) -> dict[str, float]:
    if cfg.get("threads"):
        torch.set_num_threads(cfg.threads)
    pl.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    config = stored_config(OmegaConf.to_container(cfg, resolve=True))
    ckpt_path = resolve_ckpt_path(
        cfg.get("resume"), cfg.get("ckpt_path"), output_dir, output_dir.parent
    )
    if cfg.get("ckpt_path"):
        check_resumable(cfg.ckpt_path)
    run_environment = environment()
    record = training_record(cfg, run_environment["git_commit"])
    metadata = RunMetadata(config, record, str(output_dir), run_environment)
    datamodule = hydra.utils.instantiate(cfg.data)
    # Sentence data and text: the units (tokenizer) are built from the training transcripts (after generation).
    units = datamodule.tokenizer if record["kind"] in UNIT_KINDS else None
    task = build_task(cfg, units)
    if ckpt_path is None:
        init_from = OmegaConf.to_container(cfg.get("init_from") or OmegaConf.create({}), resolve=True)
        # The head's classes: a checkpoint of other words gets a new head (lipreading.run.build.load_network_weights).
        vocabulary = datamodule.vocabulary if init_from.get("model") and record["kind"] == "word" else None
        initialise(task.net, init_from, vocabulary)
    trainer = build_trainer(cfg, [metadata, ExactResume()], started_at=started_at)
    log.info("model: %s parameters", f"{sum(p.numel() for p in task.parameters()):,}")

    start = time.perf_counter()
    try:
        trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        metrics["train_seconds"] = time.perf_counter() - start
        metrics["train_steps"] = trainer.global_step

        if cfg.get("test"):
            best = next((c.best_model_path for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)), "")
            results = trainer.test(task, datamodule=datamodule, ckpt_path=best or None)
            metrics.update({k: float(v) for k, v in results[0].items()})
            metrics["best_checkpoint"] = best
    finally:
        finish_wandb_runs(trainer)
    metrics["total_seconds"] = time.perf_counter() - start
    metrics["objective"] = objective(metrics, cfg)
    atomic_write_json(output_dir / "metrics.json", metrics)
    log.info("metrics: %s", metrics)
    return metrics
