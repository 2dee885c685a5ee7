"""LightningModule for word-level lipreading: loss, mixup, metrics, optimiser, schedule."""

from __future__ import annotations

from typing import Any, Callable

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


class WordClassificationTask(pl.LightningModule):
    """Trains any network mapping ``(video, lengths)`` to ``(B, num_classes)`` logits.

    Loss: cross-entropy with label smoothing; optional mixup (Zhang et al., 2018) with
    ``Beta(mixup_alpha, mixup_alpha)`` weights as in the reference recipe of Ma et al.
    Metrics: top-1 and top-5 accuracy per stage (``train/acc``, ``val/acc``, ``test/acc5``).
    """

    def __init__(
        self,
        net: nn.Module,
        optimizer: OptimizerFactory,
        scheduler: SchedulerFactory | None = None,
        label_smoothing: float = 0.0,
        mixup_alpha: float = 0.0,
    ) -> None:
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.label_smoothing = label_smoothing
        self.mixup_alpha = mixup_alpha
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

    def forward(self, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.net(video, lengths)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        self.log("train/skipped_clips", float(batch["skipped"]), on_step=False, on_epoch=True, reduce_fx="sum")
        if "video" not in batch:
            return None
        video, labels, lengths = batch["video"], batch["label"], batch["lengths"]
        if self.mixup_alpha > 0:
            lam = float(torch.distributions.Beta(self.mixup_alpha, self.mixup_alpha).sample())
            perm = torch.randperm(video.shape[0], device=video.device)
            # Both clips of a mixed pair keep their own frames: mix over the longer length.
            video = lam * video + (1 - lam) * video[perm]
            lengths = torch.maximum(lengths, lengths[perm])
            logits = self(video, lengths)
            loss = lam * self._loss(logits, labels) + (1 - lam) * self._loss(logits, labels[perm])
        else:
            logits = self(video, lengths)
            loss = self._loss(logits, labels)
        self.metrics["train_metrics"].update(logits.detach(), labels)
        self.log("train/loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=len(labels))
        self.log_dict(self.metrics["train_metrics"], on_step=False, on_epoch=True, batch_size=len(labels))
        return loss

    def _eval_step(self, batch: dict[str, Any], stage: str) -> None:
        if "video" not in batch:
            return
        logits = self(batch["video"], batch["lengths"])
        loss = self._loss(logits, batch["label"])
        self.metrics[f"{stage}_metrics"].update(logits, batch["label"])
        self.log(f"{stage}/loss", loss, prog_bar=stage == "val", batch_size=len(batch["label"]))
        self.log_dict(self.metrics[f"{stage}_metrics"], prog_bar=stage == "val", batch_size=len(batch["label"]))

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "val")

    def test_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        self._eval_step(batch, "test")

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        logits = self(batch["video"], batch["lengths"])
        return {"log_probs": logits.float().log_softmax(-1), "label": batch["label"], "path": batch["path"]}

    def configure_optimizers(self) -> Any:
        optimizer = self.optimizer_factory(params=self.parameters())
        if self.scheduler_factory is None:
            return optimizer
        total_steps = int(self.trainer.estimated_stepping_batches)
        steps_per_epoch = total_steps / max(1, self.trainer.max_epochs or 1)
        scheduler = self.scheduler_factory(optimizer, total_steps=total_steps, steps_per_epoch=steps_per_epoch)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
