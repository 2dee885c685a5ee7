"""Evaluate a checkpoint on a split: metrics JSON and per-sample predictions CSV."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf
from torchmetrics.functional.classification import multiclass_accuracy

from lipreading.training import build_task
from lipreading.utils.errors import CheckpointError
from lipreading.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by train.py; raise :class:`CheckpointError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found; pass ckpt=PATH to a .ckpt file of a training run")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any failure to unpickle means a damaged file
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(e).__name__}: {e}); it may be truncated") from e
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise CheckpointError(f"{path} is not a Lightning checkpoint (no state_dict)")
    if "config" not in checkpoint:
        raise CheckpointError(f"{path} holds no training config; it was not written by this project's train.py")
    return checkpoint


def restore_task(checkpoint: dict[str, Any], path: str | Path) -> tuple[pl.LightningModule, DictConfig]:
    """Rebuild the task from the checkpoint's own config and load its weights."""
    config = OmegaConf.create(checkpoint["config"])
    task = build_task(config)
    try:
        task.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(
            f"checkpoint {path} does not match the model built from its config: {str(e).splitlines()[0]} "
            f"(was it edited, or written by another version of the model code?)"
        ) from e
    return task.eval(), config


def word_metrics(log_probs: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Top-1 / top-5 accuracy and the number of samples."""
    num_classes = log_probs.shape[1]

    def accuracy(k: int) -> float:
        return float(multiclass_accuracy(log_probs, labels, num_classes, top_k=min(k, num_classes), average="micro"))

    return {"acc": accuracy(1), "acc5": accuracy(5), "num_samples": float(len(labels))}


def predictions_csv(log_probs: torch.Tensor, labels: torch.Tensor, paths: list[str], vocabulary: list[str]) -> str:
    """One row per clip: path, reference, prediction, its probability, whether correct, top-5."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["path", "label", "prediction", "probability", "correct", "top5"])
    probs = log_probs.exp()
    top = probs.topk(min(5, probs.shape[1]), dim=1)
    for i, path in enumerate(paths):
        best = int(top.indices[i, 0])
        writer.writerow([
            path, vocabulary[int(labels[i])], vocabulary[best], f"{float(top.values[i, 0]):.4f}",
            int(best == int(labels[i])), " ".join(vocabulary[int(j)] for j in top.indices[i]),
        ])
    return out.getvalue()


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Evaluate ``cfg.ckpt`` on ``cfg.split``; write metrics.json and predictions.csv to the run dir."""
    checkpoint = load_checkpoint(cfg.ckpt)
    task, train_cfg = restore_task(checkpoint, cfg.ckpt)
    data_cfg = OmegaConf.merge(train_cfg.data, cfg.get("data") or {})
    datamodule = hydra.utils.instantiate(data_cfg)
    datamodule.predict_split = cfg.split
    datamodule.prepare_data()
    vocabulary = checkpoint.get("vocabulary") or datamodule.vocabulary
    trainer = hydra.utils.instantiate(cfg.trainer)
    outputs = trainer.predict(task, datamodule=datamodule)
    log_probs = torch.cat([o["log_probs"] for o in outputs])
    labels = torch.cat([o["label"] for o in outputs])
    paths = [p for o in outputs for p in o["path"]]
    metrics = {f"{cfg.split}/{k}": v for k, v in word_metrics(log_probs, labels).items()}
    output_dir = Path(cfg.paths.output_dir)
    atomic_write_json(output_dir / "metrics.json", {"checkpoint": str(cfg.ckpt), **metrics})
    atomic_write_text(output_dir / "predictions.csv", predictions_csv(log_probs, labels, paths, vocabulary))
    log.info("%s: %s (written to %s)", cfg.ckpt, metrics, output_dir)
    return metrics
