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
from torchmetrics.functional.text import char_error_rate, word_error_rate

from lipreading.data.tokenizer import CharTokenizer
from lipreading.models.tta import TEST_TIME_AUGMENTATIONS
from lipreading.reports.sentences import write_worst_utterances
from lipreading.reports.words import write_word_report
from lipreading.training import build_task
from lipreading.utils.errors import CheckpointError, ConfigError
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


def checkpoint_kind(checkpoint: dict[str, Any]) -> str:
    """'word', 'sentence' or 'separation': what the checkpoint's task does."""
    from lipreading.utils.validation import known_kind

    return known_kind(OmegaConf.create(checkpoint["config"])) or ("sentence" if "tokenizer" in checkpoint else "word")


def check_checkpoint_kind(cfg: DictConfig, kind: str) -> None:
    """Raise :class:`ConfigError` when ``cfg.task`` (optional: ``task=separation``) names another kind than ``kind``."""
    from lipreading.utils.validation import known_kind

    expected = known_kind(cfg) if cfg.get("task") else None
    if expected is not None and expected != kind:
        raise ConfigError(f"task= names a {expected} task but {cfg.ckpt} is a {kind} checkpoint; drop task= or pass a {expected} checkpoint")


def checkpoint_tokenizer(checkpoint: dict[str, Any]) -> CharTokenizer | None:
    """The character tokenizer of a sentence checkpoint (None for a word checkpoint)."""
    data = checkpoint.get("tokenizer")
    return CharTokenizer.from_dict(data, "checkpoint['tokenizer']") if data is not None else None


def restore_task(checkpoint: dict[str, Any], path: str | Path) -> tuple[pl.LightningModule, DictConfig]:
    """Rebuild the task from the checkpoint's own config and load its weights."""
    config = OmegaConf.create(checkpoint["config"])
    task = build_task(config, checkpoint_tokenizer(checkpoint))
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


def sentence_predictions(outputs: list[dict[str, Any]]) -> tuple[dict[str, float], str]:
    """Corpus CER/WER of predict outputs and the per-utterance CSV (id, path, reference, hypothesis, cer)."""
    hypotheses = [h for o in outputs for h in o["hypothesis"]]
    references = [r for o in outputs for r in o["reference"]]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "path", "reference", "hypothesis", "cer"])
    rows = zip((i for o in outputs for i in o["id"]), (p for o in outputs for p in o["path"]), references, hypotheses)
    for clip_id, path, reference, hypothesis in rows:
        writer.writerow([clip_id, path, reference, hypothesis, f"{float(char_error_rate(hypothesis, reference)):.4f}"])
    metrics = {
        "cer": float(char_error_rate(hypotheses, references)),
        "wer": float(word_error_rate(hypotheses, references)),
        "sentence_accuracy": sum(h == r for h, r in zip(hypotheses, references)) / max(len(references), 1),
        "num_samples": float(len(references)),
    }
    return metrics, out.getvalue()


def with_test_time_augmentation(net: torch.nn.Module, name: str | None) -> torch.nn.Module:
    """``net`` wrapped by the test-time augmentation ``name`` (``eval.py tta=flip``); ``None`` keeps it."""
    if not name:
        return net
    if name not in TEST_TIME_AUGMENTATIONS:
        raise ConfigError(f"unknown tta={name!r}; valid values: {', '.join(TEST_TIME_AUGMENTATIONS)} (or null)")
    return TEST_TIME_AUGMENTATIONS[name](net)


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Evaluate ``cfg.ckpt`` on ``cfg.split``; write metrics.json and predictions.csv to the run dir.

    Word checkpoints: top-1/top-5 accuracy and per-clip predictions. Sentence checkpoints (with a
    tokenizer): corpus CER/WER and per-utterance hypothesis, reference and CER.
    """
    checkpoint = load_checkpoint(cfg.ckpt)
    kind = checkpoint_kind(checkpoint)
    check_checkpoint_kind(cfg, kind)
    if kind == "separation":
        from lipreading.separation_evaluation import evaluate_separation

        return evaluate_separation(cfg, checkpoint)
    if "tokenizer" in checkpoint and cfg.get("tta"):
        raise ConfigError(f"tta={cfg.tta} applies to word checkpoints; {cfg.ckpt} is a sentence checkpoint")
    if "tokenizer" in checkpoint:
        return evaluate_sentences(cfg, checkpoint)
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


def evaluate_sentences(cfg: DictConfig, checkpoint: dict[str, Any]) -> dict[str, float]:
    """The sentence branch of :func:`evaluate` (``decoding`` overrides the checkpoint's decoding)."""
    task, train_cfg = restore_task(checkpoint, cfg.ckpt)
    overrides = OmegaConf.to_container(cfg.get("decoding") or OmegaConf.create({}), resolve=True)
    task.decoding.update({k: v for k, v in overrides.items() if v is not None})
    datamodule = hydra.utils.instantiate(OmegaConf.merge(train_cfg.data, cfg.get("data") or {}))
    datamodule.tokenizer = task.tokenizer
    datamodule.predict_split = cfg.split
    datamodule.prepare_data()
    trainer = hydra.utils.instantiate(cfg.trainer)
    outputs = trainer.predict(task, datamodule=datamodule)
    metrics, table = sentence_predictions(outputs)
    metrics = {f"{cfg.split}/{k}": v for k, v in metrics.items()}
    output_dir = Path(cfg.paths.output_dir)
    atomic_write_json(output_dir / "metrics.json", {"checkpoint": str(cfg.ckpt), "decoding": task.decoding, **metrics})
    atomic_write_text(output_dir / "predictions.csv", table)
    write_worst_utterances(output_dir, table)
    log.info("%s: %s (written to %s)", cfg.ckpt, metrics, output_dir)
    return metrics
