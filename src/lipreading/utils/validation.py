"""Start-up checks of a composed training config: one clear sentence before any data is loaded."""

from __future__ import annotations

from typing import Any

import torch
from hydra.utils import get_class
from omegaconf import DictConfig, OmegaConf

from lipreading.data.base import check_modality
from lipreading.utils.errors import ConfigError

PRECISIONS = ("32-true", "32", "64-true", "64", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "transformer-engine")
CUDA_ONLY_PRECISIONS = ("16-mixed", "16-true")

# The kind of task each class serves: a word classifier or a sentence (sequence) model.
KINDS = {
    "word": ("lipreading.data.datamodules.WordDataModule", "lipreading.models.classifier.WordClassifierNet",
             "lipreading.tasks.word_classification.WordClassificationTask"),
    "sentence": ("lipreading.data.sentence_datamodules.SentenceDataModule", "lipreading.models.seq2seq.Seq2SeqNet",
                 "lipreading.tasks.seq2seq.Seq2SeqTask"),
    "separation": ("lipreading.data.separation.SeparationDataModule",
                   "lipreading.models.separation.separator.AudioVisualSeparator",
                   "lipreading.tasks.separation.SeparationTask"),
    "language_model": ("lipreading.data.transcripts.TranscriptDataModule",
                       "lipreading.models.language_model.LSTMLanguageModel",
                       "lipreading.tasks.language_model.LanguageModelTask"),
}


def _kind(target: str | None, position: int) -> str | None:
    """'word' or 'sentence' for the class ``target`` (a datamodule, net or task); None if neither."""
    if not target:
        return None
    cls = get_class(target)
    for kind, bases in KINDS.items():
        if issubclass(cls, get_class(bases[position])):
            return kind
    return None


def _positive(cfg: DictConfig, key: str, kind: type | tuple[type, ...]) -> None:
    value = OmegaConf.select(cfg, key, default=None)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        expected = "a positive integer" if kind is int else "a positive number"
        raise ConfigError(f"{key}={value!r} must be {expected}")


def validate_training_config(cfg: DictConfig) -> None:
    """Raise :class:`ConfigError` for wrong types or impossible combinations in ``cfg``."""
    kinds: dict[str, Any] = {
        "data": _kind(OmegaConf.select(cfg, "data._target_"), 0),
        "model": _kind(OmegaConf.select(cfg, "model._target_"), 1),
        "task": _kind(OmegaConf.select(cfg, "task._target_"), 2),
    }
    known = {group: kind for group, kind in kinds.items() if kind is not None}
    if len(set(known.values())) > 1:
        described = ", ".join(f"{group}={cfg.get(group, {}).get('_target_', '?').rsplit('.', 1)[-1]} ({kind})"
                              for group, kind in known.items())
        raise ConfigError(
            f"these choices do not fit together: {described}; word models need a word dataset and "
            f"task=word_classification, sentence models (with a decoder) a sentence dataset and task=seq2seq "
            f"(e.g. experiment=synthetic_sentences), separators mixtures and task=separation (experiment=separation)"
        )
    validate_modality(cfg)
    for key in ("data.batch_size", "data.num_classes", "trainer.accumulate_grad_batches", "seed"):
        if key == "seed":
            if not isinstance(cfg.get("seed"), int) or isinstance(cfg.get("seed"), bool):
                raise ConfigError(f"seed={cfg.get('seed')!r} must be an integer")
            continue
        _positive(cfg, key, int)
    _positive(cfg, "task.optimizer.lr", (int, float))
    max_epochs = OmegaConf.select(cfg, "trainer.max_epochs", default=None)
    if max_epochs is not None and (isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < -1):
        raise ConfigError(f"trainer.max_epochs={max_epochs!r} must be an integer (-1 for no limit)")
    precision = str(OmegaConf.select(cfg, "trainer.precision", default="32-true"))
    if precision not in PRECISIONS:
        raise ConfigError(f"trainer.precision={precision!r} is not one of {', '.join(PRECISIONS)}")
    accelerator = OmegaConf.select(cfg, "trainer.accelerator", default="auto")
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    if precision in CUDA_ONLY_PRECISIONS and on_cpu:
        raise ConfigError(f"trainer.precision={precision} needs a CUDA GPU; on the CPU use bf16-mixed or 32-true")
    if accelerator == "gpu" and not torch.cuda.is_available():
        raise ConfigError("trainer.accelerator=gpu (trainer=gpu) but no CUDA GPU is visible; use trainer=default")


INIT_FROM = ("model", "audio", "video")
"""What ``init_from`` initialises from another checkpoint: the whole network, or one frontend."""
AUDIO_VISUAL_NET = "lipreading.models.audiovisual.AudioVisualWordNet"


def known_kind(cfg: DictConfig) -> str | None:
    """'word', 'sentence', 'separation' or 'language_model': the kind of the configured task (None if unknown)."""
    return _kind(OmegaConf.select(cfg, "task._target_", default=None), 2)


def validate_modality(cfg: DictConfig) -> None:
    """``modality`` audio / av needs a dataset with audio and a model with an audio frontend."""
    modality = check_modality(cfg.get("modality") or "video")
    init_from = {k: v for k, v in (cfg.get("init_from") or {}).items() if v}
    unknown = sorted(set(init_from) - set(INIT_FROM))
    if unknown:
        raise ConfigError(f"init_from.{unknown[0]} is not a part to initialise; use {', '.join(f'init_from.{k}' for k in INIT_FROM)}")
    if known_kind(cfg) == "separation":
        if modality == "video":
            raise ConfigError("separation separates audio: use modality=av (guided by the mouth) or modality=audio (PIT baseline)")
        return
    if modality == "video":
        return
    data_target = str(OmegaConf.select(cfg, "data._target_", default="?")).rsplit(".", 1)[-1]
    if OmegaConf.select(cfg, "data.modality", default=None) is None:
        raise ConfigError(
            f"modality={modality} needs a dataset with audio, but this data config ({data_target}, root "
            f"{OmegaConf.select(cfg, 'data.root', default='?')}) has none; use data=synthetic_av_words or data=lrw "
            f"(preprocessed with audio), or modality=video"
        )
    if OmegaConf.select(cfg, "model._target_", default=None) != AUDIO_VISUAL_NET:
        model_target = str(OmegaConf.select(cfg, "model._target_", default="?")).rsplit(".", 1)[-1]
        raise ConfigError(
            f"modality={modality} needs a model with an audio frontend (model=av_small_tcn or av_resnet18_mstcn); "
            f"this model ({model_target}) reads video only"
        )
