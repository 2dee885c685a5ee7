"""A run's objects from its config: the network and the task around it, the trainer with its callbacks
and loggers, a task restored from a checkpoint, ``init_from`` initialisation, and the config a
checkpoint stores."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence
from typing import Any

import hydra
import pytorch_lightning as pl
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.callbacks import Callback
from pytorch_lightning.loggers import Logger
from torch import nn

from lipreading.callbacks.time_budget import TimeBudget
from lipreading.data.base import MODALITY_STREAMS
from lipreading.data.tokenizer import Units
from lipreading.data.transforms import EvalVideoTransform
from lipreading.run.checkpoint import Checkpoint, read_checkpoint
from lipreading.tasks.distillation import DistillationTask
from lipreading.tasks.word_classification import WordClassificationTask
from lipreading.utils.errors import CheckpointError, ConfigError
from lipreading.utils.validation import known_kind

log = logging.getLogger(__name__)


def instantiate_group(group: DictConfig | None) -> list[Any]:
    """Instantiate every entry of a name -> config mapping (callbacks, loggers)."""
    if not group:
        return []
    return [hydra.utils.instantiate(conf) for conf in group.values() if conf and "_target_" in conf]


def build_network(cfg: DictConfig, units: Units | None = None) -> nn.Module:
    """The network of ``cfg.model``; a sentence network takes its vocabulary size and special ids from ``units``."""
    if units is not None:
        return hydra.utils.instantiate(cfg.model, vocab_size=len(units), blank_id=units.blank_id,
                                       bos_id=units.bos_id, eos_id=units.eos_id)
    return hydra.utils.instantiate(cfg.model, **unused_streams(cfg))


def build_task(cfg: DictConfig, units: Units | None = None) -> pl.LightningModule:
    """The LightningModule of ``cfg.task`` around the network of ``cfg.model``.

    Sentence tasks receive the ``units`` (built from the training transcripts, or read from a
    checkpoint) that their network's output layer was sized for.
    """
    net = build_network(cfg, units)
    if units is not None:
        return hydra.utils.instantiate(cfg.task, net=net, tokenizer=units)
    return hydra.utils.instantiate(cfg.task, net=net)


# The parts of a model that read each stream: an audio-visual word model (AudioVisualWordNet) has
# both frontends; a separator (AudioVisualSeparator) always reads the audio, and the video through
# its video frontend, backend and appearance encoder.
STREAM_PARTS = {"video": ("video_frontend", "video_backend", "appearance"), "audio": ("audio_frontend",)}


def unused_streams(cfg: DictConfig) -> dict[str, None]:
    """``{part: None}`` for the parts of a two-stream model that ``cfg.modality`` leaves out (they
    are then not built); ``{}`` for single-stream models (those with a plain ``frontend``)."""
    model = cfg.model
    if "video_frontend" not in model:
        return {}
    used = MODALITY_STREAMS[cfg.get("modality") or "video"]
    return {part: None for stream, parts in STREAM_PARTS.items() if stream not in used for part in parts if part in model}


def network_state(checkpoint: Checkpoint) -> dict[str, Any]:
    """The network's weights in a checkpoint (the task's ``net.*`` entries, without the prefix)."""
    return {k[len("net."):]: v for k, v in checkpoint.state_dict.items() if k.startswith("net.")}


def initialise(net: nn.Module, init_from: dict[str, str | None], vocabulary: Sequence[str] | None = None) -> None:
    """Initialise ``net`` as ``init_from`` says: ``model`` the whole network (a new head when ``vocabulary``, the
    run's classes, differs from the checkpoint's), ``audio`` / ``video`` one frontend."""
    if init_from.get("model"):
        load_network_weights(net, init_from["model"], vocabulary)
    load_stream_weights(net, {stream: init_from.get(stream) for stream in ("audio", "video")})


HEAD = "head."  # the word networks' classifier (WordClassifierNet, AudioVisualWordNet): one row per class


def load_network_weights(net: nn.Module, path: str, vocabulary: Sequence[str] | None = None) -> None:
    """Initialise the whole of ``net`` from any checkpoint (ours or imported) of the same architecture.

    Fine-tuning to other words: when ``vocabulary`` (the run's classes) differs from the checkpoint's, or the
    head's class count does, everything but the head is loaded and the head keeps its fresh initialisation,
    except the rows of the words both vocabularies share, which are copied (logged).
    """
    checkpoint = read_checkpoint(path)
    state = network_state(checkpoint)
    if _needs_new_head(net, state, checkpoint.vocabulary, vocabulary):
        state = _with_new_head(net, state, checkpoint.vocabulary, vocabulary, path)
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(
            f"init_from.model={path}: its network ({checkpoint.kind}) does not match this model: "
            f"{str(e).splitlines()[0]} ... (init_from.model needs the same architecture: give the model= it was "
            f"trained with; init_from.audio / init_from.video take one frontend of another model)"
        ) from e
    log.info("initialised the whole network from %s", path)


def _needs_new_head(net: nn.Module, state: dict[str, Any], stored: Sequence[str] | None,
                    vocabulary: Sequence[str] | None) -> bool:
    ours = {k: v for k, v in net.state_dict().items() if k.startswith(HEAD)}
    if not ours or any(k not in state for k in ours):
        return False  # not a word network, or another architecture: the strict load names the problem
    if any(state[k].shape[1:] != v.shape[1:] for k, v in ours.items()):
        return False  # another width before the head: another architecture
    resized = any(state[k].shape != v.shape for k, v in ours.items())
    return resized or (stored is not None and vocabulary is not None and list(stored) != list(vocabulary))


def _with_new_head(net: nn.Module, state: dict[str, Any], stored: Sequence[str] | None,
                   vocabulary: Sequence[str] | None, path: str) -> dict[str, Any]:
    """``state`` with ``net``'s own (fresh) head, in which the rows of the words shared with ``stored`` are copied."""
    fresh = {k: v.clone() for k, v in net.state_dict().items() if k.startswith(HEAD)}
    old_rows = {word: i for i, word in enumerate(stored or [])}
    shared = [(i, old_rows[word]) for i, word in enumerate(vocabulary or []) if word in old_rows]
    for key, tensor in fresh.items():
        for new, old in shared:
            tensor[new] = state[key][old]
    old_classes = state[f"{HEAD}weight"].shape[0]
    log.info("init_from.model=%s: a new head for this run's %d classes (the checkpoint has %d); %d rows of shared "
             "words copied, %d initialised afresh; the rest of the network loaded", path, len(fresh[f"{HEAD}weight"]),
             old_classes, len(shared), len(fresh[f"{HEAD}weight"]) - len(shared))
    return {**state, **fresh}


def load_stream_weights(net: nn.Module, init_from: dict[str, str | None]) -> None:
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
        state = read_checkpoint(path).state_dict
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


# What a distillation task takes beside its student's (word task's) options: teacher, alpha, temperature, ...
_STUDENT_OPTIONS = inspect.signature(WordClassificationTask).parameters
DISTILLATION_OPTIONS = tuple(name for name, p in inspect.signature(DistillationTask).parameters.items()
                             if name not in _STUDENT_OPTIONS and p.kind is not p.VAR_KEYWORD)


def is_distillation(task_cfg: DictConfig | dict[str, Any]) -> bool:
    """True when the task config is a distillation task (``task=distillation`` and its variants)."""
    return issubclass(get_class(task_cfg["_target_"]), DistillationTask)


def student_task_config(task_cfg: dict[str, Any]) -> dict[str, Any]:
    """The plain word task of a distillation task config: its student's options, without the teacher."""
    student = {k: v for k, v in task_cfg.items() if k not in DISTILLATION_OPTIONS}
    student["_target_"] = f"{WordClassificationTask.__module__}.{WordClassificationTask.__qualname__}"
    return student


def stored_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config stored in checkpoints: a distilled student is stored as a plain run of its task.

    So ``eval.py``, :func:`restore_task` and a next generation rebuild it without its teacher (no
    chain of teachers to load); ``distilled_from`` keeps the distillation settings.
    """
    task = config["task"]
    if not is_distillation(task):
        return config
    return {**config, "task": student_task_config(task),
            "distilled_from": {k: v for k, v in task.items() if k in DISTILLATION_OPTIONS}}


def build_trainer(
    cfg: DictConfig, extra_callbacks: list[Callback] = (), started_at: float | None = None
) -> pl.Trainer:
    """The Lightning Trainer of ``cfg.trainer``; ``trainer.time_budget`` (minutes since ``started_at``,
    the run's start) adds the :class:`TimeBudget` that fixes the number of steps to fit it."""
    callbacks = instantiate_group(cfg.get("callbacks")) + list(extra_callbacks)
    loggers: list[Logger] = instantiate_group(cfg.get("logger"))
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    budget = trainer_cfg.pop("time_budget", None)
    if budget is not None:
        callbacks.append(TimeBudget(budget, started_at=started_at, test=bool(cfg.get("test"))))
    return hydra.utils.instantiate(trainer_cfg, callbacks=callbacks, logger=loggers or False)


def restore_task(checkpoint: Checkpoint) -> tuple[pl.LightningModule, DictConfig]:
    """Rebuild the task from the checkpoint's own config and record, and load its weights."""
    config = checkpoint.training_config()
    task = build_task(config, checkpoint.units())
    try:
        task.load_state_dict(checkpoint.state_dict)
    except RuntimeError as e:
        raise CheckpointError(
            f"checkpoint {checkpoint.path} does not match the model built from its config: {str(e).splitlines()[0]} "
            f"(was it edited, or written by another version of the model code?)"
        ) from e
    return task.eval(), config


def input_transform(checkpoint: Checkpoint) -> EvalVideoTransform:
    """The evaluation transform of a checkpoint's video input (centre crop, pixel normalisation)."""
    spec = checkpoint.input
    return EvalVideoTransform(spec["crop_size"], spec["mean"], spec["std"])


def check_task_kind(cfg: DictConfig, checkpoint: Checkpoint) -> None:
    """Raise :class:`ConfigError` when ``cfg.task`` (optional in eval/infer: ``task=separation``) names
    another kind than the checkpoint's."""
    if not cfg.get("task"):
        return
    expected = known_kind(cfg)
    if expected is not None and expected != checkpoint.kind:
        raise ConfigError(f"task= names a {expected} task but {checkpoint.path} is a {checkpoint.kind} checkpoint; "
                          f"drop task= or pass a {expected} checkpoint")
