"""Reading and writing this project's checkpoints and their record (a leaf of the workflow layer).

Every checkpoint is a dict with at least ``state_dict`` (the task's, ``net.`` before the network's
keys), ``config`` (the composed, resolved training config: ``eval.py ckpt=`` rebuilds the run from it,
as nanoGPT's ``model_args``) and ``lipreading``, the record: a plain JSON-able dict written once at
training time (:func:`training_record`), which eval, infer, export, distillation and ``init_from``
read instead of digging in the config::

    {"format": 1,
     "kind": "word" | "sentence" | "separation" | "language_model",   # declared by the task's class
     "input": {"modality", "fps", "frame_size", "crop_size", "channels", "mean", "std",
               "num_frames", "use_boundary", "audio_rate", "samples_per_frame", "preprocessing"},
     "vocabulary": [...] | None,      # word kinds: class index -> word
     "units": {...} | None,           # sentence kinds: the tokenizer's to_dict()
     "origin": {"by": "train.py" | "import:...", "source", "sha256", "git_commit"}}

A checkpoint written before the record existed gets it derived from its config, once, by
:func:`derive_record`. This module imports no other workflow module.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from omegaconf import DictConfig, OmegaConf

from lipreading.data.audio import SAMPLE_RATE, samples_per_frame
from lipreading.data.base import reads_audio
from lipreading.data.clip import FPS
from lipreading.data.tokenizer import Units, units_from_dict
from lipreading.utils.errors import CheckpointError, ConfigError
from lipreading.utils.validation import known_kind

log = logging.getLogger(__name__)

FORMAT = 1
RECORD_KEY = "lipreading"
KINDS = ("word", "sentence", "separation", "language_model")
"""The kinds a record may declare (what the workflow layer can run is :data:`lipreading.run.kinds.REGISTRY`)."""
UNIT_KINDS = ("sentence", "language_model")
"""The kinds whose record holds sentence units (the datamodule's ``tokenizer``)."""


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint read from ``path``: the task's weights, the training config and the record."""

    path: Path
    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any]
    record: dict[str, Any]
    contents: dict[str, Any]  # everything the file holds (Lightning's loops, optimizer states, ...)

    @property
    def kind(self) -> str:
        return self.record["kind"]

    @property
    def input(self) -> dict[str, Any]:
        """What the model expects (see the module doc)."""
        return self.record["input"]

    @property
    def vocabulary(self) -> list[str] | None:
        return self.record.get("vocabulary")

    def units(self) -> Units | None:
        """The sentence units (tokenizer) of a sentence checkpoint; None for other kinds."""
        data = self.record.get("units")
        return units_from_dict(data, f"{self.path} (record units)") if data is not None else None

    def training_config(self) -> DictConfig:
        return OmegaConf.create(self.config)


def read_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint of this project; :class:`CheckpointError` naming the file when it is missing,
    truncated or not one of ours."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found; pass the path of a .ckpt file of a training run")
    try:
        contents = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any failure to unpickle means a damaged file
        raise CheckpointError(f"checkpoint {path} is unreadable ({type(e).__name__}: {e}); it may be truncated") from e
    if not isinstance(contents, dict) or "state_dict" not in contents:
        raise CheckpointError(f"{path} is not a Lightning checkpoint (no state_dict)")
    if "config" not in contents:
        raise CheckpointError(f"{path} holds no training config; it was not written by this project's train.py")
    record = contents.get(RECORD_KEY)
    if record is None:
        record = derive_record(contents, path)
    elif not isinstance(record, dict) or record.get("format") != FORMAT or record.get("kind") not in KINDS:
        raise CheckpointError(f"{path}: its record (checkpoint[{RECORD_KEY!r}]) is not one this version reads "
                              f"(format {FORMAT}, kind one of {', '.join(KINDS)}); was it written by a newer version?")
    return Checkpoint(path, contents["state_dict"], contents["config"], record, contents)


def write_checkpoint(path: str | os.PathLike, state_dict: Mapping[str, torch.Tensor], config: Mapping[str, Any],
                     record: Mapping[str, Any]) -> Path:
    """Write a checkpoint that :func:`read_checkpoint` reads (atomically: a partial file is never left)."""
    if record.get("kind") not in KINDS or record.get("format") != FORMAT:
        raise ValueError(f"a record needs format {FORMAT} and a kind of {KINDS}, got {record.get('format')}, {record.get('kind')}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({"state_dict": dict(state_dict), "config": dict(config), RECORD_KEY: dict(record)}, tmp)
    os.replace(tmp, path)
    return path


def input_spec_from_config(cfg: DictConfig | Mapping[str, Any], kind: str) -> dict[str, Any]:
    """What the model of a training config expects as input: the one place that knows the data configs' layout.

    Separation data mixes the clips of a word or sentence datamodule (``data.clips``); language
    models read text (modality ``text``, no clips); the other kinds read their clips directly (``data``).
    """
    cfg = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))
    if kind == "language_model":  # reads text: no video, no audio
        return {"modality": "text", "fps": None, "frame_size": None, "crop_size": None, "channels": None,
                "mean": None, "std": None, "num_frames": None, "use_boundary": False, "audio_rate": None,
                "samples_per_frame": None, "preprocessing": None}
    data = cfg.data.clips if kind == "separation" else cfg.data
    modality = cfg.get("modality") or "video"
    fps = float(OmegaConf.select(data, "fps", default=None) or FPS)
    with_audio = reads_audio(modality)
    model = cfg.get("model") or {}
    channels = OmegaConf.select(model, "frontend.in_channels", default=None) or OmegaConf.select(
        model, "video_frontend.in_channels", default=None) or 1  # the eval transform gives one (grey) channel
    transform = data.eval_transform
    return {
        "modality": modality,
        "fps": fps,
        "frame_size": OmegaConf.select(data, "frame_size", default=None),
        "crop_size": int(transform.crop_size),
        "channels": int(channels),
        "mean": float(transform.mean),
        "std": float(transform.std),
        "num_frames": OmegaConf.select(data, "num_frames", default=None),
        "use_boundary": bool(OmegaConf.select(data, "use_boundary", default=False)),
        "audio_rate": SAMPLE_RATE if with_audio else None,
        "samples_per_frame": samples_per_frame(fps) if with_audio else None,
        "preprocessing": None,
    }


def training_record(cfg: DictConfig, git_commit: str | None = None) -> dict[str, Any]:
    """The record of a training run, without its vocabulary or units (known once the data is prepared)."""
    kind = known_kind(cfg)
    if kind is None:
        raise CheckpointError(f"task={OmegaConf.select(cfg, 'task._target_')} is not a task of a known kind "
                              f"({', '.join(KINDS)}); its checkpoints could not be read back")
    spec = input_spec_from_config(cfg, kind)
    configured = cfg.get("samples_per_frame")  # what the audio models are built for (train.yaml)
    if spec["samples_per_frame"] is not None and configured != spec["samples_per_frame"]:
        raise ConfigError(f"samples_per_frame={configured}, but the clips' {spec['audio_rate']} Hz audio at "
                          f"{spec['fps']:g} fps has {spec['samples_per_frame']} samples per frame; set "
                          f"samples_per_frame={spec['samples_per_frame']}")
    return {"format": FORMAT, "kind": kind, "input": spec, "vocabulary": None,
            "units": None, "origin": {"by": "train.py", "source": None, "sha256": None, "git_commit": git_commit}}


def derive_record(contents: Mapping[str, Any], path: str | os.PathLike) -> dict[str, Any]:
    """The record of a checkpoint written before records existed, from its stored config (its task's class)."""
    config = OmegaConf.create(contents["config"])
    kind = known_kind(config)
    if kind is None:
        raise CheckpointError(f"{path}: its config names the task {OmegaConf.select(config, 'task._target_')}, "
                              f"of no known kind ({', '.join(KINDS)})")
    log.info("%s holds no record (written before records existed); derived it from its config", path)
    environment = contents.get("environment") or {}
    return {"format": FORMAT, "kind": kind, "input": input_spec_from_config(config, kind),
            "vocabulary": contents.get("vocabulary"), "units": contents.get("tokenizer"),
            "origin": {"by": "train.py", "source": None, "sha256": None, "git_commit": environment.get("git_commit")}}
