"""Evaluate a checkpoint on a split (``eval.py``): metrics JSON and per-sample predictions CSV."""

from __future__ import annotations

from omegaconf import DictConfig

from lipreading.run.checkpoint import check_checkpoint_kind, checkpoint_kind, load_checkpoint
from lipreading.run.separation import evaluate_separation
from lipreading.run.sentences import evaluate_sentences
from lipreading.run.words import evaluate_words
from lipreading.utils.errors import ConfigError


def evaluate(cfg: DictConfig) -> dict[str, float]:
    """Evaluate ``cfg.ckpt`` on ``cfg.split``; write metrics.json and predictions.csv to the run dir.

    Word checkpoints: top-1/top-5 accuracy and per-clip predictions. Sentence checkpoints (with a
    tokenizer): corpus CER/WER and per-utterance hypothesis, reference and CER.
    """
    checkpoint = load_checkpoint(cfg.ckpt)
    kind = checkpoint_kind(checkpoint)
    check_checkpoint_kind(cfg, kind)
    if kind == "separation":
        return evaluate_separation(cfg, checkpoint)
    if "tokenizer" in checkpoint and cfg.get("tta"):
        raise ConfigError(f"tta={cfg.tta} applies to word checkpoints; {cfg.ckpt} is a sentence checkpoint")
    if "tokenizer" in checkpoint:
        return evaluate_sentences(cfg, checkpoint)
    return evaluate_words(cfg, checkpoint)
