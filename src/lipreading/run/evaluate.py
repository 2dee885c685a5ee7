"""Evaluate a checkpoint on a split (``eval.py``): metrics JSON, per-sample predictions and reports."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from lipreading.run.build import check_task_kind
from lipreading.run.checkpoint import read_checkpoint
from lipreading.run.kinds import kind_of


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Evaluate ``cfg.ckpt`` on ``cfg.split`` as its kind does; write metrics.json and predictions.csv.

    Word checkpoints: top-1/top-5 accuracy, per-clip predictions and the word reports
    (:func:`lipreading.run.words.evaluate_words`). Sentence checkpoints: corpus CER/WER and
    per-utterance hypotheses (:mod:`lipreading.run.sentences`). Separation checkpoints: SI-SDR and
    the other separation metrics over fixed mixtures (:mod:`lipreading.run.separation`).
    """
    checkpoint = read_checkpoint(cfg.ckpt)
    check_task_kind(cfg, checkpoint)
    return kind_of(checkpoint).evaluate(cfg, checkpoint)
