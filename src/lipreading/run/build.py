"""A run's objects from its config: the task around its network, the trainer with its callbacks and
loggers, a task restored from a checkpoint, and ``init_from`` initialisation of a network's parts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf, open_dict
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.loggers import Logger

from lipreading.run.checkpoint import checkpoint_tokenizer, load_checkpoint
from lipreading.utils.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a name -> config mapping (callbacks, loggers)."""
    if not group:
        return []
    return [hydra.utils.instantiate(conf) for conf in group.values() if conf and "_target_" in conf]


def build_task(cfg: DictConfig, tokenizer: Any | None = None) -> pl.LightningModule:
    """The LightningModule of ``cfg.task`` around the network of ``cfg.model``.

    Sentence models take their vocabulary size from ``tokenizer`` (built from the training
    transcripts, or read from a checkpoint), which their task receives too.

    ``cfg.distill`` (empty for ``distill=none``) makes it a distillation task: its ``_target_``
    replaces the task's class and its keys (teacher, alpha, temperature) join the task's.
    """
    cfg = with_student_model(cfg)
    task_cfg = cfg.task.copy()
    OmegaConf.set_struct(task_cfg, False)  # the distillation keys are new to the task
    task_cfg = OmegaConf.merge(task_cfg, cfg.get("distill") or {})
    with open_dict(task_cfg):
        task_cfg.pop("born_again", None)  # consumed by with_student_model
    if tokenizer is not None:
        net = hydra.utils.instantiate(cfg.model, vocab_size=len(tokenizer))
        return hydra.utils.instantiate(task_cfg, net=net, tokenizer=tokenizer)
    net = hydra.utils.instantiate(cfg.model, **unused_streams(cfg))
    return hydra.utils.instantiate(task_cfg, net=net)


# The parts of a model that read each stream: an audio-visual word model (AudioVisualWordNet) has
# both frontends; a separator (AudioVisualSeparator) always reads the audio, and the video through
# its video frontend, backend and appearance encoder.
STREAM_PARTS = {"video": ("video_frontend", "video_backend", "appearance"), "audio": ("audio_frontend",)}
MODALITY_STREAMS = {"video": ("video",), "audio": ("audio",), "av": ("video", "audio")}


def unused_streams(cfg: DictConfig) -> dict[str, None]:
    """``{part: None}`` for the parts of a two-stream model that ``cfg.modality`` leaves out (they
    are then not built); ``{}`` for single-stream models (those with a plain ``frontend``)."""
    model = cfg.model
    if "video_frontend" not in model:
        return {}
    used = MODALITY_STREAMS[cfg.get("modality") or "video"]
    return {part: None for stream, parts in STREAM_PARTS.items() if stream not in used for part in parts if part in model}


def load_stream_weights(net: Any, init_from: dict[str, str | None]) -> None:
    """Initialise the audio / video frontend of ``net`` from the frontend of another run's checkpoint.

    ``init_from = {"audio": PATH, "video": PATH}`` (either may be None). A video checkpoint may be
    a video-only model of the zoo (its ``frontend``) or an audio-visual model (its ``video_frontend``).
    """
    for stream, path in init_from.items():
        if not path:
            continue
        target = getattr(net, f"{stream}_frontend", None)
        if target is None:
            raise ConfigError(f"init_from.{stream}={path}: the model has no {stream} frontend (modality={net.modality})")
        state = load_checkpoint(path)["state_dict"]
        prefixes = [f"net.{stream}_frontend."] + (["net.frontend."] if stream == "video" else [])
        prefix = next((p for p in prefixes if any(k.startswith(p) for k in state)), None)
        if prefix is None:
            raise CheckpointError(f"init_from.{stream}={path} holds no {stream} frontend (no {' or '.join(prefixes)}* weights)")
        try:
            target.load_state_dict({k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)})
        except RuntimeError as e:
            raise CheckpointError(
                f"init_from.{stream}={path}: its {stream} frontend does not match this model's: {str(e).splitlines()[0]} "
                f"(train both stages with the same model config)"
            ) from e
        log.info("initialised the %s frontend from %s", stream, path)


def teacher_model_config(checkpoint: str | None) -> dict[str, Any]:
    """The model config stored in a teacher's checkpoint (a born-again student copies it)."""
    if not checkpoint:
        raise ConfigError("distill=born_again builds the student from its teacher's config: set "
                          "distill.teacher.checkpoint=PATH to the .ckpt of a training run")
    if not Path(checkpoint).is_file():
        raise ConfigError(f"teacher checkpoint {checkpoint} not found; set distill.teacher.checkpoint to the "
                          ".ckpt of a training run")
    return load_checkpoint(checkpoint)["config"]["model"]


def with_student_model(cfg: DictConfig) -> DictConfig:
    """``cfg``, with the teacher checkpoint's model config as ``model`` under ``distill=born_again``."""
    if not (cfg.get("distill") or {}).get("born_again"):
        return cfg
    cfg = cfg.copy()
    cfg.model = teacher_model_config(cfg.distill.teacher.checkpoint)
    return cfg


def checkpoint_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config stored in checkpoints: a distilled student is stored as a plain run of its task.

    So ``eval.py``, :func:`restore_task` and a next born-again generation rebuild it without
    its teacher (no chain of teachers to load); ``distilled_from`` keeps the distillation settings.
    """
    if not config.get("distill"):
        return config
    return {**config, "distill": {}, "distilled_from": config["distill"]}


def build_trainer(cfg: DictConfig, extra_callbacks: list[Callback] = ()) -> pl.Trainer:
    callbacks = instantiate_group(cfg.get("callbacks")) + list(extra_callbacks)
    loggers: list[Logger] = instantiate_group(cfg.get("logger"))
    return hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)


def restore_task(checkpoint: dict[str, Any], path: str | Path) -> tuple[pl.LightningModule, DictConfig]:
    """Rebuild the task from the checkpoint's own config and load its weights."""
    config = OmegaConf.create(checkpoint["config"])
    task = build_task(config, checkpoint_tokenizer(checkpoint))
    try:
        task.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(
            f"checkpoint {path} does not match the model built from its config: {str(e).splitlines()[0]} "
            f"(was it edited, or written by another version of the model code?)"
        ) from e
    return task.eval(), config
