"""LightningModule for speech separation: SI-SDR (or mask) loss, PIT for audio-only models, SI-SDRi."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric

from lipreading.models.backends.tcn import valid_mask
from lipreading.tasks.guards import NonFiniteGuard
from lipreading.tasks.optim import (
    OptimizerFactory,
    SchedulerFactory,
    configure_optimizers,
)
from lipreading.tasks.separation_losses import (
    best_permutation,
    ideal_masks,
    mask_error,
    mask_pit,
    si_sdr,
    target_estimate,
)
from lipreading.utils.errors import ConfigError

LOSSES = ("si_sdr", "mask")


class SeparationTask(pl.LightningModule):
    """Trains a separator mapping ``(mixture, lengths[, video])`` to estimates (B, S, N), one per speaker.

    Every separator separates all voices, trained with permutation-invariant training (the best
    assignment of its outputs to the speakers counts). An audio-visual separator (its ``modality`` is
    ``av``) also learns which of its outputs is the target whose mouth it sees: with a target
    selector, its logits are trained by cross-entropy, weighted ``selection_weight``, to pick the
    output that the best assignment gives the target; without one (VisualVoice's objective) output
    ``s`` must be speaker ``s``, the target first: the SI-SDR (or mask error) in that order, mixed
    with weight ``pit_weight`` with the permutation-invariant one. Evaluation scores the output it
    puts first (no oracle). A separator with a visual prior also learns, weighted ``prior_weight``,
    to predict the target's band energies in each video frame from its lips (squared error).
    An audio-only separator cannot know the target: it is trained with permutation-invariant
    training alone. ``loss``: ``si_sdr`` (negative SI-SDR of the waveforms) or ``mask`` (squared
    error to the ideal masks of the separator's kind). ``frozen`` names sub-modules of the net that
    are not trained (e.g. ``[video_frontend]`` initialised from a lipreading checkpoint).
    Metrics: ``val/si_sdr`` and ``val/si_sdri`` (improvement over the mixture) of the target's
    estimate (the audio-only model's best-matching output), the same for test.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        loss: str = "si_sdr",
        selection_weight: float = 1.0,
        pit_weight: float = 0.0,
        prior_weight: float = 1.0,
        frozen: Sequence[str] = (),
        max_nonfinite_steps: int = 5,
    ) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ConfigError(f"unknown separation loss {loss!r}; valid losses: {', '.join(LOSSES)}")
        if selection_weight < 0:
            raise ConfigError(f"task.selection_weight={selection_weight} must be 0 or more")
        if prior_weight < 0:
            raise ConfigError(f"task.prior_weight={prior_weight} must be 0 or more")
        if not 0 <= pit_weight <= 1:
            raise ConfigError(f"task.pit_weight={pit_weight} must be in [0, 1]")
        self.net = net
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.loss_name, self.selection_weight, self.pit_weight = loss, selection_weight, pit_weight
        self.prior_weight = prior_weight
        self.frozen = list(frozen)
        for name in self.frozen:
            module = getattr(net, name, None)
            if module is None:
                raise ConfigError(f"task.frozen names {name!r}, which this {net.modality} separator does not have")
            module.requires_grad_(False)
        self.nonfinite = NonFiniteGuard(max_nonfinite_steps)
        self.metrics = nn.ModuleDict({
            f"{stage}_{name}": MeanMetric() for stage in ("val", "test") for name in ("si_sdr", "si_sdri")
        })

    def train(self, mode: bool = True) -> SeparationTask:
        super().train(mode)
        self._freeze_statistics()
        return self

    def _freeze_statistics(self) -> None:
        for name in self.frozen:  # frozen modules keep their batch-norm statistics
            getattr(self.net, name).eval()

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # Lightning restores each sub-module's mode around validation as it found it, bypassing
        # train(): set the frozen ones to eval before every step.
        self._freeze_statistics()

    @property
    def ordered(self) -> bool:
        """Whether the outputs come in the speakers' order (target first): the audio-visual model's."""
        return self.net.modality == "av"

    def _video(self, batch: dict[str, Any]) -> torch.Tensor | None:
        return batch["video"] if self.ordered else None

    def forward(self, mixture: torch.Tensor, lengths: torch.Tensor, video: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(mixture, lengths, video)

    def _sources(self, batch: dict[str, Any]) -> torch.Tensor:
        sources = batch["sources"]
        if sources.shape[1] != self.net.num_outputs:
            raise ConfigError(
                f"the separator has {self.net.num_outputs} outputs but the mixtures hold "
                f"{sources.shape[1]} speakers; set model.num_speakers=data.num_speakers"
            )
        return sources

    def _with_pit(self, in_order: torch.Tensor, invariant: torch.Tensor) -> torch.Tensor:
        """(B,) objectives of the target-first order and of the best assignment, mixed by ``pit_weight``."""
        return (1 - self.pit_weight) * in_order + self.pit_weight * invariant

    def losses(self, batch: dict[str, Any]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The loss (key ``loss``) and its parts, and the estimates (B, S, N), the target first for
        an audio-visual separator."""
        sources = self._sources(batch)
        masked = self.net.masks(batch["mixture"], batch["lengths"], self._video(batch))
        estimates = self.net.reconstruct(masked)
        fixed = self.ordered and "selection" not in masked  # output s is speaker s, the target first
        if self.loss_name == "si_sdr":
            score, perm = best_permutation(estimates, sources)
            losses = {"si_sdr": score.mean().detach()}
            if fixed:
                score = self._with_pit(si_sdr(estimates, sources).mean(1), score)
            losses["loss"] = -score.mean()
        else:
            ideal = ideal_masks(self.net.analyse(sources / masked["rms"][:, :, None]), masked["spectrum"], self.net.mask)
            error, perm = mask_pit(masked["masks"], ideal, masked["step_mask"])
            if fixed:
                in_order = mask_error(masked["masks"].flatten(0, 1), ideal.flatten(0, 1),
                                      masked["step_mask"].repeat_interleave(sources.shape[1], 0))
                error = self._with_pit(in_order.reshape(len(sources), -1).mean(1), error)
            losses = {"loss": error.mean()}
        if fixed:
            losses["target_first"] = (perm[:, 0] == 0).float().mean()  # how often the best assignment agrees
        if "prior" in masked:  # the lips' prediction of the target's band energies, frame by frame
            target = self.net.frame_band_energies(sources[:, 0], batch["lengths"])
            valid = valid_mask(batch["lengths"], target.shape[-1], target.dtype)  # (B, 1, T_v)
            error = (masked["prior"][..., : target.shape[-1]] - target).square().mean(1, keepdim=True)  # (B, 1, T_v)
            prior = (error * valid).sum() / valid.sum().clamp(min=1)
            losses["loss"] = losses["loss"] + self.prior_weight * prior
            losses["prior"] = prior.detach()
        if "selection" in masked:
            target_output = perm[:, 0]  # the output the best assignment gives the target
            selection = F.cross_entropy(masked["selection"], target_output)
            losses["loss"] = losses["loss"] + self.selection_weight * selection
            losses["selection"] = selection.detach()
            losses["selection_acc"] = (masked["selection"].argmax(1) == target_output).float().mean()
        return losses, self.net.target_first(estimates, masked)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        self.log("train/skipped_clips", float(batch["skipped"]), on_step=False, on_epoch=True, reduce_fx="sum")
        if "mixture" not in batch:
            return None
        losses, _ = self.losses(batch)
        if not self.nonfinite.is_finite(losses["loss"], self.global_step):
            self.log("train/nonfinite_steps", float(self.nonfinite.total), on_step=True, on_epoch=False)
            return None
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=True, on_epoch=True, prog_bar=name == "loss",
                     batch_size=len(batch["mixture"]))
        return losses["loss"]

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        if "mixture" not in batch:
            return
        losses, estimates = self.losses(batch)
        target = batch["sources"][:, 0]
        score = si_sdr(target_estimate(estimates, batch["sources"], self.ordered), target)
        improvement = score - si_sdr(batch["mixture"], target)
        size = len(target)
        self.log(f"{stage}/loss", losses["loss"], batch_size=size, sync_dist=True)
        self.metrics[f"{stage}_si_sdr"].update(score)
        self.metrics[f"{stage}_si_sdri"].update(improvement)
        self.log(f"{stage}/si_sdr", self.metrics[f"{stage}_si_sdr"], batch_size=size)
        self.log(f"{stage}/si_sdri", self.metrics[f"{stage}_si_sdri"], prog_bar=stage == "val", batch_size=size)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        """Every output, the target's estimate, and the batch's references and mixing parameters."""
        estimates = self(batch["mixture"], batch["lengths"], self._video(batch))
        return {
            "estimates": estimates,
            "target_estimate": target_estimate(estimates, batch["sources"], self.ordered),
            **{key: batch[key] for key in ("index", "mixture", "sources", "lengths", "level_db", "noise_snr_db", "path",
                                           "interferers")},
        }

    def configure_optimizers(self) -> Any:
        return configure_optimizers(self, self.optimizer_factory, self.scheduler_factory)

