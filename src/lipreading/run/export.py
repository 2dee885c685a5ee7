"""Export a checkpoint for deployment (``export.py``): word classifiers to ONNX or TorchScript, sentence models to ONNX."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from lipreading.run.checkpoint import read_checkpoint
from lipreading.run.kinds import kind_of


def export(cfg: DictConfig) -> Path:
    """Export ``cfg.ckpt`` as its kind does (:func:`lipreading.run.word_export.export_words`,
    :func:`lipreading.run.sentence_export.export_sentences`)."""
    checkpoint = read_checkpoint(cfg.ckpt)
    return kind_of(checkpoint).export(cfg, checkpoint)
