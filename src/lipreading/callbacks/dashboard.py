"""Run dashboards: PNG figures in the run dir always, and the same on W&B when a WandbLogger is attached."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback, ModelCheckpoint
from pytorch_lightning.loggers import WandbLogger

from lipreading.callbacks.resume_checkpoint import ResumeCheckpoint
from lipreading.reports.plots import (
    Series, plot_clip_strips, plot_confusion_matrix, plot_learning_curves, uint8_frames, write_gif,
)
from lipreading.reports.words import confusion_matrix
from lipreading.run.metadata import RunMetadata

log = logging.getLogger(__name__)


class Dashboard(Callback):
    """Learning curves, sample clips with their predictions and the confusion matrix.

    Written as PNG files into ``<output_dir>/plots`` (``learning_curves.png``, ``val_samples.png``,
    ``val_confusion.png``, ``test_confusion.png``) on every validation, so that they can be looked
    at without W&B. With a :class:`WandbLogger` the same figures are logged to the run (the sample
    clips as animated GIF videos), together with the composed config and, at the end of fit, the
    best and last checkpoints as a ``model`` artifact (offline runs keep it for ``wandb sync``).

    The predictions come from one more forward pass over each validation / test batch (no
    gradients, the trainer's precision), so the figures need no change to the task. Word tasks
    get a confusion matrix; tasks with a ``transcribe`` method (sentences) get transcripts.
    """

    def __init__(self, output_dir: str, num_samples: int = 4, log_checkpoint: bool = True) -> None:
        self.plots_dir = Path(output_dir) / "plots"
        self.num_samples = num_samples
        self.log_checkpoint = log_checkpoint
        self.history: dict[str, Series] = {}
        self._confusion: torch.Tensor | None = None
        self._samples: dict[str, list[Any]] = {}

    # --- config and learning curves -----------------------------------------------------------
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        metadata = next((c for c in trainer.callbacks if isinstance(c, RunMetadata)), None)
        wandb = self._wandb(trainer)
        if metadata is not None and wandb is not None:
            wandb.experiment.config.update(metadata.config, allow_val_change=True)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if trainer.global_step % max(1, trainer.log_every_n_steps) or not isinstance(outputs, dict):
            return
        step = trainer.global_step
        self.history.setdefault("train_step/loss", []).append((step, float(outputs["loss"])))
        if trainer.optimizers:
            self.history.setdefault("train_step/lr", []).append((step, trainer.optimizers[0].param_groups[0]["lr"]))

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Runs after the epoch's validation: both stages' epoch figures are in callback_metrics.
        self._record(trainer, "train/", suffix="_epoch")
        if trainer.is_global_zero and self.history:
            path = plot_learning_curves(self.history, self.plots_dir / "learning_curves.png")
            self._log_images(trainer, "learning_curves", [path])

    def _record(self, trainer: pl.Trainer, prefix: str, suffix: str = "") -> None:
        for name, value in trainer.callback_metrics.items():
            # "train/loss" is the last step's value; its epoch mean is "train/loss_epoch".
            if not name.startswith(prefix) or name.endswith(("_step", "skipped_clips")) or name == "train/loss":
                continue
            self.history.setdefault(name.removesuffix(suffix), []).append((trainer.global_step, float(value)))

    # --- predictions of validation and test batches ----------------------------------------------
    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._confusion, self._samples = None, {"video": [], "lengths": [], "captions": []}

    on_test_epoch_start = on_validation_epoch_start

    def on_validation_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                                batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if not trainer.sanity_checking:
            self._observe(trainer, pl_module, batch, trainer.num_val_batches[dataloader_idx])

    def on_test_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any,
                          batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        self._observe(trainer, pl_module, batch, trainer.num_test_batches[dataloader_idx])

    def _sample_index(self, batch_size: int, num_batches: int | float) -> torch.Tensor:
        """Which clips of this batch to show: spread over the batches (the clips come sorted by word)."""
        missing = self.num_samples - len(self._samples["video"])
        per_batch = math.ceil(self.num_samples / num_batches) if math.isfinite(num_batches) else missing
        count = max(0, min(missing, per_batch, batch_size))
        return torch.linspace(0, batch_size - 1, count + 2)[1:-1].round().long()

    @torch.no_grad()
    def _observe(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: dict[str, Any],
                 num_batches: int | float) -> None:
        if not isinstance(batch, dict) or "video" not in batch or "mixture" in batch:
            return  # separation: learning curves only (eval.py writes spectrograms and WAVs)
        video, lengths = batch["video"], batch["lengths"]
        index = self._sample_index(len(lengths), num_batches)
        with trainer.precision_plugin.forward_context():
            if hasattr(pl_module, "transcribe"):  # sentences
                if len(index):
                    hypotheses = pl_module.transcribe(video[index], lengths[index])
                    references = [batch["text"][i] for i in index.tolist()]
                    self._keep_samples(video[index], lengths[index],
                                       [f"ref: {r}\nhyp: {h}" for r, h in zip(references, hypotheses)])
                return
            logits = pl_module(video, lengths, batch.get("boundary"), batch.get("audio")).float()
        predictions = logits.argmax(-1)
        num_classes = logits.shape[-1]
        counts = confusion_matrix(predictions, batch["label"], num_classes)
        self._confusion = counts if self._confusion is None else self._confusion + counts
        if len(index):
            words = self._vocabulary(trainer, num_classes)
            probs = logits[index].softmax(-1).max(-1).values
            captions = [f"{words[int(t)]} -> {words[int(p)]} ({float(q):.2f})"
                        for t, p, q in zip(batch["label"][index], predictions[index], probs)]
            self._keep_samples(video[index], lengths[index], captions)

    def _keep_samples(self, video: torch.Tensor, lengths: torch.Tensor, captions: list[str]) -> None:
        self._samples["video"] += list(video.detach().cpu())
        self._samples["lengths"] += lengths.tolist()
        self._samples["captions"] += captions

    @staticmethod
    def _vocabulary(trainer: pl.Trainer, num_classes: int) -> list[str]:
        words = getattr(trainer.datamodule, "vocabulary", None)
        return list(words) if words is not None and len(words) == num_classes else [str(i) for i in range(num_classes)]

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._record(trainer, "val/")
            self._figures(trainer, "val")

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._figures(trainer, "test")

    def _figures(self, trainer: pl.Trainer, stage: str) -> None:
        confusion = self._confusion
        if confusion is not None and trainer.world_size > 1:
            confusion = trainer.strategy.reduce(confusion, reduce_op="sum")  # every rank's clips
        if not trainer.is_global_zero:
            return
        if confusion is not None:
            words = self._vocabulary(trainer, confusion.shape[0])
            title = f"{stage}, epoch {trainer.current_epoch}, step {trainer.global_step}"
            path = plot_confusion_matrix(confusion.cpu(), words, self.plots_dir / f"{stage}_confusion.png", title)
            self._log_images(trainer, f"{stage}/confusion_matrix", [path])
        if self._samples.get("video"):
            clips = [uint8_frames(v)[: int(n)] for v, n in zip(self._samples["video"], self._samples["lengths"])]
            captions = self._samples["captions"]
            path = plot_clip_strips(clips, captions, self.plots_dir / f"{stage}_samples.png")
            self._log_images(trainer, f"{stage}/samples", [path])
            wandb = self._wandb(trainer)
            if wandb is not None:
                gifs = [str(write_gif(c, self.plots_dir / "gifs" / f"{stage}_sample{i}.gif")) for i, c in enumerate(clips)]
                wandb.log_video(f"{stage}/sample_clips", gifs, step=trainer.global_step,
                                caption=list(captions), format=["gif"] * len(gifs))

    # --- resume ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The learning-curve history, so that a resumed run's figures show the whole run."""
        return {"history": self.history}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = {name: [tuple(point) for point in series] for name, series in state["history"].items()}

    # --- W&B -------------------------------------------------------------------------------------
    @staticmethod
    def _wandb(trainer: pl.Trainer) -> WandbLogger | None:
        return next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)

    def _log_images(self, trainer: pl.Trainer, key: str, paths: list[Path]) -> None:
        wandb = self._wandb(trainer)
        if wandb is not None:
            wandb.log_image(key, [str(p) for p in paths], step=trainer.global_step)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        wandb = self._wandb(trainer)
        best_callback = next((c for c in trainer.checkpoint_callbacks if isinstance(c, ModelCheckpoint)), None)
        resume = next((c for c in trainer.checkpoint_callbacks if isinstance(c, ResumeCheckpoint)), None)
        if not (self.log_checkpoint and wandb is not None and trainer.is_global_zero):
            return
        import wandb as wandb_sdk

        best = best_callback.best_model_path if best_callback is not None else ""
        last = str(resume.path) if resume is not None else (best_callback.last_model_path if best_callback else "")
        files = {name: path for name, path in (("best.ckpt", best), ("last.ckpt", last)) if path and Path(path).is_file()}
        if not files:
            return
        score = best_callback.best_model_score if best_callback is not None else None
        artifact = wandb_sdk.Artifact(
            f"model-{wandb.experiment.id}", type="model",
            metadata={"monitor": best_callback.monitor if best_callback is not None else None,
                      "score": None if score is None else float(score),
                      "best_model_path": best, "global_step": trainer.global_step},
        )
        for name, path in files.items():
            artifact.add_file(path, name=name)
        wandb.experiment.log_artifact(artifact, aliases=["latest", "best"])
        log.info("W&B: logged %s as artifact %s", ", ".join(files.values()), artifact.name)
