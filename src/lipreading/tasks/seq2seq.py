"""LightningModule for sentence lipreading: hybrid CTC/attention loss, scheduled sampling, CER/WER."""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.text import CharErrorRate, WordErrorRate

from lipreading.data.tokenizer import Units
from lipreading.models.masks import length_mask
from lipreading.tasks.guards import NonFiniteGuard
from lipreading.tasks.optim import OptimizerFactory, SchedulerFactory, configure_optimizers

DECODING_METHODS = ("greedy", "ctc_greedy", "beam")
IGNORE_INDEX = -100
"""Target of the positions after a sentence's ``<eos>`` (cross-entropy's default ``ignore_index``)."""


def decoder_io(
    tokens: torch.Tensor, token_lengths: torch.Tensor, bos_id: int, eos_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L) padded tokens -> decoder input ``<bos> y1..yL`` and target ``y1..yL <eos>``, (B, L+1) each.

    After a sentence the input holds ``<eos>`` (as Auto-AVSR's ``add_sos_eos``; a causal decoder
    never lets those positions reach the sentence's own) and the target :data:`IGNORE_INDEX`,
    whatever id the batch was padded with.
    """
    batch, steps = tokens.shape[0], tokens.shape[1] + 1
    valid = length_mask(token_lengths, tokens.shape[1])  # (B, L)
    bos = torch.full((batch, 1), bos_id, dtype=tokens.dtype, device=tokens.device)
    decoder_input = torch.cat([bos, tokens.masked_fill(~valid, eos_id)], dim=1)
    target = torch.cat([tokens, tokens.new_zeros(batch, 1)], dim=1).masked_fill(~length_mask(token_lengths, steps), IGNORE_INDEX)
    target[torch.arange(batch, device=tokens.device), token_lengths] = eos_id
    return decoder_input, target


class Seq2SeqTask(pl.LightningModule):
    """Trains a :class:`~lipreading.models.seq2seq.Seq2SeqNet` on (video, text) pairs.

    Loss: ``ctc_weight * CTC + (1 - ctc_weight) * cross-entropy`` of the decoder (label
    smoothing ``label_smoothing``); a model with only one of the two heads uses that one.
    Teacher forcing: the decoder sees the true previous token with probability
    ``teacher_forcing`` (linear from ``initial`` to ``final`` between epochs ``decay_start`` and
    ``decay_end``), otherwise its own previous prediction from a first, gradient-free pass
    (parallel scheduled sampling, Duckworth et al., 2019, which works for the LSTM and the
    Transformer decoder alike). Metrics ``{stage}/cer`` and ``{stage}/wer`` (space-separated words)
    from the ``decoding`` settings. The CTC blank, ``<bos>`` and ``<eos>`` are the units'
    (``tokenizer``: characters or SentencePiece pieces).
    """

    def __init__(
        self,
        net: nn.Module,
        tokenizer: Units,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        ctc_weight: float = 0.3,
        label_smoothing: float = 0.1,
        teacher_forcing: dict[str, float] | None = None,
        decoding: dict[str, Any] | None = None,
        max_nonfinite_steps: int = 5,
    ) -> None:
        super().__init__()
        self.nonfinite = NonFiniteGuard(max_nonfinite_steps)
        if len(tokenizer) != net.vocab_size:
            raise ValueError(f"the tokenizer has {len(tokenizer)} tokens but the network predicts {net.vocab_size}")
        ids = {"blank": (tokenizer.blank_id, net.blank_id), "bos": (tokenizer.bos_id, net.bos_id),
               "eos": (tokenizer.eos_id, net.eos_id)}
        if any(ours != its for ours, its in ids.values()):
            raise ValueError(f"the network's special ids {({k: v[1] for k, v in ids.items()})} are not the "
                             f"tokenizer's {({k: v[0] for k, v in ids.items()})}")
        self.net = net
        self.tokenizer = tokenizer
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.ctc_weight = ctc_weight if net.ctc_head is not None and net.decoder is not None else (
            1.0 if net.decoder is None else 0.0)
        self.label_smoothing = label_smoothing
        self.teacher_forcing = {"initial": 1.0, "final": 1.0, "decay_start": 0.0, "decay_end": 1.0, **(teacher_forcing or {})}
        self.decoding = {"method": "greedy", "beam_size": 5, "length_penalty": 0.0, "length_bonus": 0.0, "ctc_weight": 0.3,
                         "max_length": 100, **(decoding or {})}
        if self.decoding["method"] not in DECODING_METHODS:
            raise ValueError(f"unknown decoding method {self.decoding['method']!r}; valid: {DECODING_METHODS}")
        self.metrics = nn.ModuleDict({
            f"{stage}_{name}": metric()
            for stage in ("val", "test") for name, metric in (("cer", CharErrorRate), ("wer", WordErrorRate))
        })

    def teacher_forcing_ratio(self) -> float:
        """The probability of feeding the true previous token, at the current point of training."""
        tf = self.teacher_forcing
        if self._trainer is None or not self.trainer.num_training_batches or tf["initial"] == tf["final"]:
            return float(tf["initial"])
        epoch = self.trainer.global_step * self.trainer.accumulate_grad_batches / max(1, self.trainer.num_training_batches)
        span = max(tf["decay_end"] - tf["decay_start"], 1e-9)
        progress = min(max((epoch - tf["decay_start"]) / span, 0.0), 1.0)
        return float(tf["initial"] + (tf["final"] - tf["initial"]) * progress)

    def _losses(self, batch: dict[str, Any], ratio: float) -> dict[str, torch.Tensor]:
        video, lengths = batch["video"], batch["lengths"]
        tokens, token_lengths = batch["tokens"], batch["token_lengths"]
        units = self.tokenizer
        decoder_input, target = decoder_io(tokens, token_lengths, units.bos_id, units.eos_id)
        if self.net.decoder is not None and ratio < 1.0:
            with torch.no_grad():
                guess = self.net(video, lengths, decoder_input)["decoder_logits"].argmax(-1)  # (B, L+1)
            swap = torch.rand(decoder_input.shape, device=video.device) >= ratio
            swap[:, 0] = False  # <bos> always
            swap &= length_mask(token_lengths + 1, decoder_input.shape[1])  # the sentence's own inputs only
            decoder_input = torch.where(swap, torch.cat([decoder_input[:, :1], guess[:, :-1]], dim=1), decoder_input)
        out = self.net(video, lengths, decoder_input if self.net.decoder is not None else None)
        losses = {}
        if "ctc_log_probs" in out and self.ctc_weight > 0:
            losses["ctc_loss"] = F.ctc_loss(
                out["ctc_log_probs"].transpose(0, 1), tokens, lengths, token_lengths,
                blank=units.blank_id, zero_infinity=True,
            )
        if "decoder_logits" in out and self.ctc_weight < 1:
            logits = out["decoder_logits"].float()
            losses["att_loss"] = F.cross_entropy(
                logits.flatten(0, 1), target.flatten(), ignore_index=IGNORE_INDEX, label_smoothing=self.label_smoothing
            )
        losses["loss"] = self.ctc_weight * losses.get("ctc_loss", 0.0) + (1 - self.ctc_weight) * losses.get("att_loss", 0.0)
        return losses

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        self.log("train/skipped_clips", float(batch["skipped"]), on_step=False, on_epoch=True, reduce_fx="sum")
        if "video" not in batch:
            return None
        ratio = self.teacher_forcing_ratio()
        losses = self._losses(batch, ratio)
        if not self.nonfinite.is_finite(losses["loss"], self.global_step):
            self.log("train/nonfinite_steps", float(self.nonfinite.total), on_step=True, on_epoch=False)
            return None
        size = len(batch["text"])
        self.log("train/loss", losses["loss"], on_step=True, on_epoch=True, prog_bar=True, batch_size=size)
        for name in ("ctc_loss", "att_loss"):
            if name in losses:
                self.log(f"train/{name}", losses[name], on_step=False, on_epoch=True, batch_size=size)
        self.log("train/teacher_forcing", ratio, on_step=False, on_epoch=True, batch_size=size)
        return losses["loss"]

    def transcribe(self, video: torch.Tensor, lengths: torch.Tensor, **overrides: Any) -> list[str]:
        """Decoded text of each clip (``decoding`` settings, ``overrides`` on top)."""
        ids = self.net.decode(video, lengths, **{**self.decoding, **overrides})
        return [self.tokenizer.decode(seq) for seq in ids]

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        if "video" not in batch:
            return
        size = len(batch["text"])
        losses = self._losses(batch, 1.0)
        hypotheses = self.transcribe(batch["video"], batch["lengths"])
        for name in ("cer", "wer"):
            metric = self.metrics[f"{stage}_{name}"]
            metric.update(hypotheses, batch["text"])
            self.log(f"{stage}/{name}", metric, prog_bar=stage == "val" and name == "cer", batch_size=size)
        self.log(f"{stage}/loss", losses["loss"], prog_bar=stage == "val", batch_size=size, sync_dist=True)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        if "video" not in batch:
            return {"hypothesis": [], "reference": [], "id": [], "path": []}
        return {"hypothesis": self.transcribe(batch["video"], batch["lengths"]), "reference": batch["text"],
                "id": batch["id"], "path": batch["path"]}

    def configure_optimizers(self) -> Any:
        return configure_optimizers(self, self.optimizer_factory, self.scheduler_factory)
