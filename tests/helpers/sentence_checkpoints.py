"""Tiny sentence-model and language-model checkpoints in train.py's format (config, record with units)."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from lipreading.data.tokenizer import CharTokenizer
from lipreading.run.build import build_task
from lipreading.run.checkpoint import training_record, write_checkpoint
from tests.conftest import compose_config

TINY_SENTENCE_MODEL = ["experiment=synthetic_sentences", "model.frontend.stem_channels=4", "model.frontend.stages=[[8,2]]",
                       "model.backend.stages.tcn.branch_channels=8", "model.backend.stages.tcn.num_layers=1",
                       "model.backend.stages.bigru.hidden_size=8", "model.backend.stages.bigru.num_layers=1"]
TINY_LM = ["experiment=synthetic_sentences_lm", "model.embed_dim=8", "model.hidden_dim=16"]


def _write(path: Path, overrides: list[str], units: CharTokenizer, seed: int, reads_text: bool = False) -> Path:
    cfg = compose_config("train", overrides, path.parent)
    torch.manual_seed(seed)
    task = build_task(cfg, units)
    if reads_text:  # a random CTC model reads blanks only: the special ids made unlikely, it reads characters
        with torch.no_grad():
            task.net.ctc_head.bias[: units.unk_id + 1] = -10.0
    record = {**training_record(cfg), "units": units.to_dict()}
    return write_checkpoint(path, task.state_dict(), OmegaConf.to_container(cfg, resolve=True), record)


def write_sentence_model(path: Path, units: CharTokenizer, overrides: tuple[str, ...] = (), seed: int = 0) -> Path:
    """A randomly initialised tiny CTC sentence model (small frontend + TCN + BiGRU) over ``units`` that reads
    characters (not only blanks)."""
    return _write(path, [*TINY_SENTENCE_MODEL, *overrides], units, seed, reads_text=True)


def write_language_model(path: Path, units: CharTokenizer, overrides: tuple[str, ...] = (), seed: int = 0) -> Path:
    """A randomly initialised tiny LSTM language model over ``units``."""
    return _write(path, [*TINY_LM, *overrides], units, seed)
