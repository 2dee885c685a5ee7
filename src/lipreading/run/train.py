"""One training run: fit, then test with the best checkpoint; the final metrics in metrics.json."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from lipreading.callbacks.exact_resume import ExactResume
from lipreading.callbacks.run_metadata import RunMetadata
from lipreading.run.build import build_task, build_trainer, checkpoint_config, load_stream_weights, with_student_model
from lipreading.utils.io import atomic_write_json
from lipreading.utils.resume import resolve_ckpt_path
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


def train(cfg: DictConfig) -> dict[str, float]:
    """Train (and test) as ``cfg`` says; return the final metrics, also saved as metrics.json."""
    validate_training_config(cfg)
    pl.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.paths.output_dir)
    cfg = with_student_model(cfg)
    config = checkpoint_config(OmegaConf.to_container(cfg, resolve=True))
    ckpt_path = resolve_ckpt_path(
        cfg.get("resume"), cfg.get("ckpt_path"), output_dir, output_dir.parent
    )
    datamodule = hydra.utils.instantiate(cfg.data)
    # Sentence data: the tokenizer is built from the training transcripts (after generation).
    tokenizer = datamodule.tokenizer if hasattr(datamodule, "tokenizer") else None
    task = build_task(cfg, tokenizer)
    if ckpt_path is None and any((cfg.get("init_from") or {}).values()):
        load_stream_weights(task.net, OmegaConf.to_container(cfg.init_from, resolve=True))
    trainer = build_trainer(cfg, [RunMetadata(config, str(output_dir)), ExactResume()])
    log.info("model: %s parameters", f"{sum(p.numel() for p in task.parameters()):,}")

    start = time.perf_counter()
    trainer.fit(task, datamodule=datamodule, ckpt_path=ckpt_path)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    metrics["train_seconds"] = time.perf_counter() - start

    if cfg.get("test"):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        results = trainer.test(task, datamodule=datamodule, ckpt_path=best or None)
        metrics.update({k: float(v) for k, v in results[0].items()})
        metrics["best_checkpoint"] = best
    metrics["total_seconds"] = time.perf_counter() - start
    metrics["objective"] = objective(metrics, cfg)
    atomic_write_json(output_dir / "metrics.json", metrics)
    log.info("metrics: %s", metrics)
    return metrics
