"""LightningModule of a token language model on sentence transcripts (for shallow fusion in decoding)."""

from __future__ import annotations

import math
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric

from lipreading.data.tokenizer import Units
from lipreading.models.masks import length_mask
from lipreading.tasks.optim import OptimizerFactory, SchedulerFactory, configure_optimizers
from lipreading.tasks.seq2seq import IGNORE_INDEX, decoder_io


class LanguageModelTask(pl.LightningModule):
    """Trains a :class:`~lipreading.models.language_model.LSTMLanguageModel` on transcripts.

    Each sentence is read as ``<bos> y1 .. yL`` and predicts ``y1 .. yL <eos>`` (cross-entropy,
    padding ignored). Metrics: ``{stage}/loss`` (nats per token, ``<eos>`` included) and
    ``{stage}/ppl`` (its exponential, over the epoch's tokens).
    """

    def __init__(
        self,
        net: nn.Module,
        tokenizer: Units,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__()
        if len(tokenizer) != net.vocab_size:
            raise ValueError(f"the units have {len(tokenizer)} tokens but the language model predicts {net.vocab_size}")
        self.net = net
        self.tokenizer = tokenizer
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.label_smoothing = label_smoothing
        self.mean_loss = nn.ModuleDict({stage: MeanMetric() for stage in ("val", "test")})  # per token

    def token_losses(self, tokens: torch.Tensor, token_lengths: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
        """(B, L) padded tokens -> (B, L+1) negative log-likelihood of each target token (0 on padding)."""
        inputs, target = decoder_io(tokens, token_lengths, self.tokenizer.bos_id, self.tokenizer.eos_id)
        logits = self.net(inputs).float()  # (B, L+1, V)
        losses = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=IGNORE_INDEX,
                                 label_smoothing=label_smoothing, reduction="none")
        return losses.view(target.shape)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        losses = self.token_losses(batch["tokens"], batch["token_lengths"], self.label_smoothing)
        loss = losses.sum() / (batch["token_lengths"] + 1).sum()
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(batch["text"]))
        return loss

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        losses = self.token_losses(batch["tokens"], batch["token_lengths"])
        valid = length_mask(batch["token_lengths"] + 1, losses.shape[1])  # the sentence's tokens and its <eos>
        self.mean_loss[stage].update(losses[valid])

    def _eval_epoch_end(self, stage: str) -> None:
        loss = float(self.mean_loss[stage].compute())
        self.mean_loss[stage].reset()
        self.log(f"{stage}/loss", loss, prog_bar=True)
        self.log(f"{stage}/ppl", math.exp(min(loss, 50.0)))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def on_validation_epoch_end(self) -> None:
        self._eval_epoch_end("val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def on_test_epoch_end(self) -> None:
        self._eval_epoch_end("test")

    def configure_optimizers(self) -> Any:
        return configure_optimizers(self, self.optimizer_factory, self.scheduler_factory)
