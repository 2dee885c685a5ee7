"""Language-model checkpoints: perplexity on a split (eval.py), and the LM of shallow fusion for sentence decoding."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn

from lipreading.models.masks import length_mask
from lipreading.run.build import restore_task
from lipreading.run.checkpoint import Checkpoint, read_checkpoint
from lipreading.utils.errors import CheckpointError, ConfigError
from lipreading.utils.io import atomic_write_json

log = logging.getLogger(__name__)


def evaluate_language_model(cfg: DictConfig, checkpoint: Checkpoint) -> dict[str, float]:
    """Per-token loss and perplexity of a language model on the transcripts of ``cfg.split``."""
    task, train_cfg = restore_task(checkpoint)
    datamodule = hydra.utils.instantiate(OmegaConf.merge(train_cfg.data, cfg.get("data") or {}))
    datamodule.tokenizer = task.tokenizer
    datamodule.prepare_data()
    datamodule.setup("test" if cfg.split == "test" else "validate")
    loader = datamodule.test_dataloader() if cfg.split == "test" else datamodule.val_dataloader()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in loader:
            losses = task.token_losses(batch["tokens"], batch["token_lengths"])
            total += float(losses[length_mask(batch["token_lengths"] + 1, losses.shape[1])].sum())
            count += int((batch["token_lengths"] + 1).sum())
    loss = total / max(count, 1)
    metrics = {f"{cfg.split}/loss": loss, f"{cfg.split}/ppl": math.exp(min(loss, 50.0)),
               f"{cfg.split}/num_tokens": float(count)}
    atomic_write_json(Path(cfg.paths.output_dir) / "metrics.json", {"checkpoint": str(cfg.ckpt), **metrics})
    log.info("%s: %s", cfg.ckpt, metrics)
    return metrics


def refuse(cfg: DictConfig, checkpoint: Checkpoint) -> None:
    """infer.py and export.py read videos / export video models; a language model reads text."""
    raise ConfigError(f"{checkpoint.path} is a language model (it scores text, it reads no video); use it in a "
                      f"sentence model's beam search: decoding.method=beam decoding.lm.ckpt={checkpoint.path}")


def fusion_model(path: str, sentence_checkpoint: Checkpoint) -> nn.Module:
    """The language model of ``path`` for shallow fusion with ``sentence_checkpoint``'s model (same units, checked)."""
    checkpoint = read_checkpoint(path)
    if checkpoint.kind != "language_model":
        raise CheckpointError(f"decoding.lm.ckpt={path} is a {checkpoint.kind} checkpoint; give a language model's, "
                              f"e.g. one of python train.py experiment=synthetic_sentences_lm")
    ours, theirs = checkpoint.record.get("units"), sentence_checkpoint.record.get("units")
    if ours != theirs:
        raise CheckpointError(f"decoding.lm.ckpt={path} was trained on other units than {sentence_checkpoint.path} "
                              f"({units_difference(ours, theirs)}); train the language model on the sentence model's "
                              f"training transcripts (data.sentences.* as that run's data.*)")
    task, _ = restore_task(checkpoint)
    return task.net


def units_difference(lm_units: dict[str, Any] | None, model_units: dict[str, Any] | None) -> str:
    """A few words on how two units' dicts differ (their type, size or first differing token)."""
    lm_units, model_units = lm_units or {}, model_units or {}
    if lm_units.get("type") != model_units.get("type"):
        return f"units of type {lm_units.get('type')!r} against {model_units.get('type')!r}"
    lm_tokens, model_tokens = lm_units.get("tokens") or [], model_units.get("tokens") or []
    for i, (a, b) in enumerate(zip(lm_tokens, model_tokens)):
        if a != b:
            return f"{len(lm_tokens)} against {len(model_tokens)} tokens, the first difference at id {i}: {a!r} against {b!r}"
    if len(lm_tokens) != len(model_tokens):
        return f"{len(lm_tokens)} against {len(model_tokens)} tokens"
    differing = sorted(k for k in lm_units.keys() | model_units.keys() if lm_units.get(k) != model_units.get(k))
    return f"differing in {', '.join(differing)}"
