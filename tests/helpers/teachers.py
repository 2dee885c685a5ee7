"""Tiny word checkpoints in train.py's format (config and record), for distillation, export and infer tests."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from lipreading.run.build import build_task
from lipreading.run.checkpoint import training_record, write_checkpoint
from tests.conftest import compose_config

TINY_MODEL = ["model=small_tcn", "model.frontend.stem_channels=4", "model.frontend.stages=[[8,2]]",
              "model.backend.branch_channels=8", "model.backend.num_layers=1"]


def write_teacher(path: Path, vocabulary: list[str], overrides: tuple[str, ...] = (), seed: int = 0) -> Path:
    """A randomly initialised tiny model saved as a checkpoint with its config and record (and vocabulary)."""
    cfg = compose_config("train", [*TINY_MODEL, f"data.num_classes={len(vocabulary)}", *overrides], path.parent)
    torch.manual_seed(seed)
    task = build_task(cfg)
    record = {**training_record(cfg), "vocabulary": list(vocabulary)}
    return write_checkpoint(path, task.state_dict(), OmegaConf.to_container(cfg, resolve=True), record)


def write_legacy_teacher(path: Path, vocabulary: list[str], seed: int = 0) -> Path:
    """The same, in the format of checkpoints written before records existed (vocabulary beside the config)."""
    cfg = compose_config("train", [*TINY_MODEL, f"data.num_classes={len(vocabulary)}"], path.parent)
    torch.manual_seed(seed)
    task = build_task(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": task.state_dict(), "config": OmegaConf.to_container(cfg, resolve=True),
                "vocabulary": list(vocabulary)}, path)
    return path
