"""Export a checkpoint for deployment (``export.py``): word classifiers to ONNX or TorchScript."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from lipreading.run.checkpoint import load_checkpoint
from lipreading.run.word_export import export_words
from lipreading.utils.errors import ConfigError


def export(cfg: DictConfig) -> Path:
    """Export ``cfg.ckpt`` as ``cfg.format`` (see :func:`lipreading.run.word_export.export_words`)."""
    checkpoint = load_checkpoint(cfg.ckpt)
    if "tokenizer" in checkpoint:
        raise ConfigError(f"{cfg.ckpt} is a sentence checkpoint; export.py exports word classifiers "
                          "(a sentence model's decoding search is Python code, not one graph)")
    return export_words(cfg, checkpoint)
