"""Sentence checkpoints: evaluation on a split (CER, WER, per-utterance predictions) and the sentence of one video."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torchmetrics.functional.text import char_error_rate, word_error_rate

from lipreading.reports.sentences import write_worst_utterances
from lipreading.run.build import restore_task
from lipreading.run.checkpoint import Checkpoint
from lipreading.run.mouth import model_inputs, read_mouth
from lipreading.run.transcript import Transcript, write_transcript
from lipreading.utils.errors import ConfigError
from lipreading.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


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


def decoding_overrides(cfg: DictConfig) -> dict[str, Any]:
    """The ``decoding.*`` settings given on the command line (null keeps the checkpoint's)."""
    overrides = OmegaConf.to_container(cfg.get("decoding") or OmegaConf.create({}), resolve=True)
    return {k: v for k, v in overrides.items() if v is not None}


def evaluate_sentences(cfg: DictConfig, checkpoint: Checkpoint) -> dict[str, float]:
    """Corpus CER/WER of a sentence checkpoint on ``cfg.split`` (``decoding`` overrides the checkpoint's decoding)."""
    for option in ("tta", "save_log_probs"):
        if cfg.get(option):
            raise ConfigError(f"{option}={cfg.get(option)} applies to word checkpoints; {cfg.ckpt} is a sentence checkpoint")
    task, train_cfg = restore_task(checkpoint)
    task.decoding.update(decoding_overrides(cfg))
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


def infer_sentences(cfg: DictConfig, checkpoint: Checkpoint) -> Transcript:
    """The decoded sentence of ``cfg.video`` (and its CER against ``ground_truth`` when given)."""
    task, _ = restore_task(checkpoint)
    clip = read_mouth(cfg, checkpoint)
    inputs, lengths = model_inputs(clip, checkpoint)
    with torch.no_grad():
        result = Transcript(text=task.transcribe(inputs, lengths, **decoding_overrides(cfg))[0])
    if cfg.get("ground_truth") is not None:
        result.cer = float(char_error_rate(result.text, task.tokenizer.normalise(str(cfg.ground_truth))))
    return write_transcript(cfg, clip, result)

