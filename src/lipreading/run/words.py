"""Word checkpoints: evaluation on a split (metrics, predictions, reports)."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torchmetrics.functional.classification import multiclass_accuracy

from lipreading.models.tta import TEST_TIME_AUGMENTATIONS
from lipreading.reports.words import write_word_report
from lipreading.run.build import restore_task
from lipreading.utils.errors import ConfigError
from lipreading.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


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


def with_test_time_augmentation(net: torch.nn.Module, name: str | None) -> torch.nn.Module:
    """``net`` wrapped by the test-time augmentation ``name`` (``eval.py tta=flip``); ``None`` keeps it."""
    if not name:
        return net
    if name not in TEST_TIME_AUGMENTATIONS:
        raise ConfigError(f"unknown tta={name!r}; valid values: {', '.join(TEST_TIME_AUGMENTATIONS)} (or null)")
    return TEST_TIME_AUGMENTATIONS[name](net)


def evaluate_words(cfg: DictConfig, checkpoint: dict[str, Any]) -> dict[str, float]:
    """Top-1/top-5 accuracy of a word checkpoint on ``cfg.split``, per-clip predictions and the word reports."""
    task, train_cfg = restore_task(checkpoint, cfg.ckpt)
    task.net = with_test_time_augmentation(task.net, cfg.get("tta"))
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
    # Confusion matrix, per-class accuracy and most-confused pairs beside metrics.json.
    report = write_word_report(output_dir, log_probs, labels, vocabulary, cfg.split)
    per_class = report.pop("per_class_accuracy")
    metrics.update(report)
    atomic_write_json(output_dir / "metrics.json", {"checkpoint": str(cfg.ckpt), "tta": cfg.get("tta"), **metrics,
                                                    "per_class_accuracy": per_class})
    atomic_write_text(output_dir / "predictions.csv", predictions_csv(log_probs, labels, paths, vocabulary))
    log.info("%s: %s (written to %s)", cfg.ckpt, metrics, output_dir)
    return metrics


