"""Word checkpoints: evaluation on a split (metrics, predictions, reports) and the words of one video."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torchmetrics.functional.classification import multiclass_accuracy

from lipreading.models.tta import TEST_TIME_AUGMENTATIONS
from lipreading.reports.words import write_word_report
from lipreading.run.build import restore_task
from lipreading.run.checkpoint import Checkpoint
from lipreading.run.mouth import model_inputs, read_mouth
from lipreading.run.transcript import Transcript, write_transcript
from lipreading.utils.errors import CheckpointError, ConfigError
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


def evaluate_words(cfg: DictConfig, checkpoint: Checkpoint) -> dict[str, float]:
    """Top-1/top-5 accuracy of a word checkpoint on ``cfg.split``, per-clip predictions and the word reports;
    with ``save_log_probs`` also every clip's log-probabilities (``log_probs.npy``, rows as predictions.csv)."""
    task, train_cfg = restore_task(checkpoint)
    task.net = with_test_time_augmentation(task.net, cfg.get("tta"))
    data_cfg = OmegaConf.merge(train_cfg.data, cfg.get("data") or {})
    datamodule = hydra.utils.instantiate(data_cfg)
    datamodule.predict_split = cfg.split
    datamodule.prepare_data()
    vocabulary = checkpoint.vocabulary or datamodule.vocabulary
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
    if cfg.get("save_log_probs"):
        write_log_probs(output_dir / "log_probs.npy", log_probs)
    log.info("%s: %s (written to %s)", cfg.ckpt, metrics, output_dir)
    return metrics


def write_log_probs(path: Path, log_probs: torch.Tensor) -> Path:
    """``(clips, classes)`` float32 log-probabilities as ``.npy`` (atomically), for ensembling and analysis."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        np.save(f, log_probs.float().numpy())
    tmp.replace(path)
    return path


def infer_words(cfg: DictConfig, checkpoint: Checkpoint) -> Transcript:
    """The ``top_k`` likeliest words of ``cfg.video`` and their probabilities."""
    if checkpoint.vocabulary is None:
        raise CheckpointError(f"{checkpoint.path} records no vocabulary, so its classes cannot be named; "
                              "retrain it with this version")
    task, _ = restore_task(checkpoint)
    clip = read_mouth(cfg, checkpoint)
    inputs, lengths = model_inputs(clip, checkpoint)
    with torch.no_grad():
        probabilities = task(inputs, lengths).float().softmax(-1)[0]
    top = probabilities.topk(min(cfg.top_k, len(probabilities)))
    words = [(checkpoint.vocabulary[int(i)], float(p)) for p, i in zip(top.values, top.indices)]
    return write_transcript(cfg, clip, Transcript(words=words))


