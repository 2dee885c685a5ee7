"""LightningModule for word-level lipreading: loss, mixup, metrics, optimiser, schedule."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

from lipreading.tasks.guards import NonFiniteGuard
from lipreading.tasks.optim import (
    OptimizerFactory,
    SchedulerFactory,
    configure_optimizers,
    frontend_parameter_groups,
    network_parts,
)
from lipreading.utils.errors import ConfigError

# Mixup of a batch: the weight of each clip's own content and the permutation giving its partner.
Mixup = tuple[float, torch.Tensor]


def mixed_loss(loss_of: Callable[[Any], torch.Tensor], mixup: Mixup | None) -> torch.Tensor:
    """``loss_of(index)`` with the targets of the batch (``index`` selects them); under mixup, the
    lambda-weighted sum of the losses against each clip's own and its partner's targets."""
    if mixup is None:
        return loss_of(slice(None))
    lam, perm = mixup
    return lam * loss_of(slice(None)) + (1 - lam) * loss_of(perm)


class WordClassificationTask(pl.LightningModule):
    """Trains any network mapping ``(video, lengths)`` to ``(B, num_classes)`` logits.

    Loss: cross-entropy with label smoothing; optional mixup (Zhang et al., 2018) with
    ``Beta(mixup_alpha, mixup_alpha)`` weights as in the reference recipe of Ma et al.
    Metrics: top-1 and top-5 accuracy per stage (``train/acc``, ``val/acc``, ``test/acc5``).

    Fine-tuning (e.g. from an imported checkpoint, ``init_from.model=``): ``freeze`` names parts of the network
    (``frontend``, ``backend``, ...) that are not trained (no gradients, batch-norm statistics and dropout kept in
    evaluation mode); ``frontend_lr_scale`` multiplies the learning rate of the frontends' parameters.
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        label_smoothing: float = 0.0,
        mixup_alpha: float = 0.0,
        max_nonfinite_steps: int = 5,
        freeze: str | Sequence[str] | None = None,
        frontend_lr_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.net = net
        if not frontend_lr_scale > 0:
            raise ConfigError(f"task.frontend_lr_scale={frontend_lr_scale}: use a positive factor (task.freeze=frontend "
                              "to keep the frontend fixed)")
        self.frontend_lr_scale = frontend_lr_scale
        self.frozen = network_parts(net, freeze)
        for part in self.frozen:
            part.requires_grad_(False)
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.label_smoothing = label_smoothing
        self.mixup_alpha = mixup_alpha
        self.nonfinite = NonFiniteGuard(max_nonfinite_steps)
        num_classes = net.num_classes
        top5 = min(5, num_classes)
        metrics = MetricCollection({
            "acc": MulticlassAccuracy(num_classes, top_k=1, average="micro"),
            "acc5": MulticlassAccuracy(num_classes, top_k=top5, average="micro"),
        })
        # One metric object per stage (ModuleDict keys may not shadow nn.Module.train).
        self.metrics = nn.ModuleDict({
            f"{stage}_metrics": metrics.clone(prefix=f"{stage}/") for stage in ("train", "val", "test")
        })

    def forward(
        self,
        video: torch.Tensor,
        lengths: torch.Tensor,
        boundary: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
    ) -> torch.Tensor:
        # The word boundary and the audio reach the net only when the batches carry them
        # (data.use_boundary, data.modality).
        extra = {} if audio is None else {"audio": audio}
        return self.net(video, lengths, **extra) if boundary is None else self.net(video, lengths, boundary, **extra)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        self.log("train/skipped_clips", float(batch["skipped"]), on_step=False, on_epoch=True, reduce_fx="sum")
        if "video" not in batch:
            return None
        video, labels, lengths, boundary = batch["video"], batch["label"], batch["lengths"], batch.get("boundary")
        audio = batch.get("audio")
        mixup = self._sample_mixup(len(labels), video.device)
        if mixup is not None:
            lam, perm = mixup
            # Both clips of a mixed pair keep their own frames: mix over the longer length.
            video = lam * video + (1 - lam) * video[perm]
            lengths = torch.maximum(lengths, lengths[perm])
            if boundary is not None:  # mixed like the video: a soft indicator
                boundary = lam * boundary + (1 - lam) * boundary[perm]
            if audio is not None:
                audio = lam * audio + (1 - lam) * audio[perm]
        logits = self(video, lengths, boundary, audio)
        losses = self.training_losses(logits, batch, mixup)
        if not self.nonfinite.is_finite(losses["loss"], self.global_step):
            self.log("train/nonfinite_steps", float(self.nonfinite.total), on_step=True, on_epoch=False)
            return None
        self.metrics["train_metrics"].update(logits.detach(), labels)
        for name, value in losses.items():
            self.log(f"train/{name}", value, on_step=True, on_epoch=True, prog_bar=name == "loss",
                     batch_size=len(labels))
        self.log_dict(self.metrics["train_metrics"], on_step=False, on_epoch=True, batch_size=len(labels))
        return losses["loss"]

    def training_losses(
        self, logits: torch.Tensor, batch: dict[str, Any], mixup: Mixup | None
    ) -> dict[str, torch.Tensor]:
        """The loss to optimise (key ``loss``) and its parts; each is logged as ``train/<key>``."""
        labels = batch["label"]
        return {"loss": mixed_loss(lambda index: self._loss(logits, labels[index]), mixup)}

    def _sample_mixup(self, batch_size: int, device: torch.device) -> Mixup | None:
        if self.mixup_alpha <= 0:
            return None
        lam = float(torch.distributions.Beta(self.mixup_alpha, self.mixup_alpha).sample())
        return lam, torch.randperm(batch_size, device=device)

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        if "video" not in batch:
            return
        logits = self(batch["video"], batch["lengths"], batch.get("boundary"), batch.get("audio"))
        loss = self._loss(logits, batch["label"])
        self.metrics[f"{stage}_metrics"].update(logits, batch["label"])
        self.log(f"{stage}/loss", loss, prog_bar=stage == "val", batch_size=len(batch["label"]), sync_dist=True)
        self.log_dict(self.metrics[f"{stage}_metrics"], prog_bar=stage == "val", batch_size=len(batch["label"]))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        logits = self(batch["video"], batch["lengths"], batch.get("boundary"), batch.get("audio"))
        return {"log_probs": logits.float().log_softmax(-1), "label": batch["label"], "path": batch["path"]}

    def train(self, mode: bool = True) -> WordClassificationTask:
        super().train(mode)
        for part in self.frozen:  # frozen parts keep their batch-norm statistics and do not drop out
            part.eval()
        return self

    def configure_optimizers(self) -> Any:
        params = None
        if self.frontend_lr_scale != 1.0:
            base_lr = getattr(self.optimizer_factory, "keywords", {}).get("lr")
            params = frontend_parameter_groups(self.net, base_lr, self.frontend_lr_scale)
        return configure_optimizers(self, self.optimizer_factory, self.scheduler_factory, params)
