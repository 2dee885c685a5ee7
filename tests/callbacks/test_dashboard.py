"""The dashboard callback: PNGs in the run dir, and the same plus config and checkpoint on W&B (offline)."""

from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf
from pytorch_lightning.callbacks import ModelCheckpoint

from lipreading.callbacks.dashboard import Dashboard
from lipreading.callbacks.resume_checkpoint import ResumeCheckpoint
from lipreading.run.checkpoint import training_record
from lipreading.run.metadata import RunMetadata
from lipreading.run.build import build_task
from lipreading.utils.loggers import wandb_logger
from tests.helpers.teachers import TINY_MODEL

TINY_DATA = ["data.num_classes=3", "data.clips_per_word={train:8,val:4,test:4}", "data.batch_size=4",
             "data.eval_batch_size=4", "logger=wandb"]


def test_dashboard_writes_pngs_and_logs_them_to_wandb_offline(compose_train, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = compose_train(*TINY_MODEL, *TINY_DATA)
    run_dir = Path(cfg.paths.output_dir)
    config = OmegaConf.to_container(cfg, resolve=True)
    logger = wandb_logger(save_dir=str(run_dir), project="lipreading-test")
    artifacts = []
    monkeypatch.setattr(type(logger.experiment), "log_artifact",
                        lambda run, artifact, aliases=None: artifacts.append((artifact, aliases)))
    dashboard = Dashboard(str(run_dir), num_samples=3)
    trainer = pl.Trainer(
        accelerator="cpu", max_epochs=2, logger=[logger], log_every_n_steps=1, enable_progress_bar=False,
        callbacks=[RunMetadata(config, training_record(cfg)), dashboard, ModelCheckpoint(dirpath=run_dir / "ckpt", monitor="val/acc",
                                                                  mode="max"), ResumeCheckpoint(run_dir / "ckpt")],
    )
    datamodule = hydra.utils.instantiate(cfg.data)
    task = build_task(cfg)
    trainer.fit(task, datamodule=datamodule)
    trainer.test(task, datamodule=datamodule)

    plots = run_dir / "plots"
    for name in ("learning_curves", "val_confusion", "val_samples", "test_confusion", "test_samples"):
        assert (plots / f"{name}.png").stat().st_size > 1000, name
    assert len(list((plots / "gifs").glob("val_sample*.gif"))) == 3
    assert {"train_step/loss", "train_step/lr", "train/loss", "val/acc", "val/loss"} <= set(dashboard.history)
    assert [step for step, _ in dashboard.history["val/acc"]] == [6, 12]  # 3 x 8 clips / 4 per batch, 2 epochs
    assert logger.experiment.config["model"]["_target_"].endswith("WordClassifierNet")
    media = next((run_dir / "wandb").glob("offline-run-*")) / "files" / "media"
    assert list(media.glob("images/val/confusion_matrix_*.png")) and list(media.glob("videos/val/sample_clips_*.gif"))
    (artifact, aliases), = artifacts
    assert artifact.type == "model" and set(artifact.manifest.entries) == {"best.ckpt", "last.ckpt"}
    # the history travels in the resume checkpoint: a resumed run's curves show the whole run
    # (saved at the last validation: the epoch-end records that follow it are not in it yet)
    resumed = Dashboard(str(run_dir))
    resumed.load_state_dict(torch.load(run_dir / "ckpt" / "last.ckpt", weights_only=True)["callbacks"]["Dashboard"])
    assert resumed.history["val/acc"] == dashboard.history["val/acc"] and len(resumed.history["val/acc"]) == 2
    assert resumed.history["train_step/loss"] == dashboard.history["train_step/loss"]
    logger.experiment.finish()
