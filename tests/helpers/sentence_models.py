"""Tiny sentence checkpoints in train.py's format (config and record with units), for export tests."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import OmegaConf

from lipreading.data.tokenizer import CharTokenizer
from lipreading.run.build import build_task
from lipreading.run.checkpoint import training_record, write_checkpoint
from tests.conftest import compose_config

TINY_ENCODER = ["experiment=synthetic_sentences", "model.frontend.stem_channels=4", "model.frontend.stages=[[8,2]]",
                "model.backend.stages.tcn.branch_channels=8", "model.backend.stages.tcn.num_layers=1",
                "model.backend.stages.bigru.hidden_size=8", "model.backend.stages.bigru.num_layers=1"]
DECODERS = {
    "ctc": ["model=small_bigru_ctc"],
    "attention_lstm": ["model=small_bigru_attention", "model.decoder.embed_dim=8", "model.decoder.hidden_dim=8",
                       "model.decoder.num_heads=2", "task.ctc_weight=0.3"],
    "transformer": ["model=small_bigru_attention", "model/decoder=transformer", "model.decoder.d_model=8",
                    "model.decoder.num_heads=2", "model.decoder.num_layers=1", "model.decoder.ffn_dim=16",
                    "model.ctc=false", "task.ctc_weight=0.0"],
}


def write_sentence_model(path: Path, decoder: str, characters: str = "abcdefgh ", seed: int = 0) -> Path:
    """A randomly initialised tiny sentence model (``decoder``: a key of :data:`DECODERS`) saved as a checkpoint."""
    cfg = compose_config("train", [*DECODERS[decoder][:1], *TINY_ENCODER, *DECODERS[decoder][1:]], path.parent)
    units = CharTokenizer(list(characters))
    torch.manual_seed(seed)
    task = build_task(cfg, units)
    record = {**training_record(cfg), "units": units.to_dict()}
    return write_checkpoint(path, task.state_dict(), OmegaConf.to_container(cfg, resolve=True), record)
