"""Reading and writing this project's checkpoints (a leaf of the workflow layer: it imports no other run module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from lipreading.data.tokenizer import CharTokenizer
from lipreading.utils.errors import CheckpointError, ConfigError
from lipreading.utils.validation import known_kind


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
    return known_kind(OmegaConf.create(checkpoint["config"])) or ("sentence" if "tokenizer" in checkpoint else "word")


def check_checkpoint_kind(cfg: DictConfig, kind: str) -> None:
    """Raise :class:`ConfigError` when ``cfg.task`` (optional: ``task=separation``) names another kind than ``kind``."""
    expected = known_kind(cfg) if cfg.get("task") else None
    if expected is not None and expected != kind:
        raise ConfigError(f"task= names a {expected} task but {cfg.ckpt} is a {kind} checkpoint; drop task= or pass a {expected} checkpoint")


def checkpoint_tokenizer(checkpoint: dict[str, Any]) -> CharTokenizer | None:
    """The character tokenizer of a sentence checkpoint (None for a word checkpoint)."""
    data = checkpoint.get("tokenizer")
    return CharTokenizer.from_dict(data, "checkpoint['tokenizer']") if data is not None else None
