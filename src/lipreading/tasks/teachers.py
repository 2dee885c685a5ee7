"""Frozen teachers for distillation: a trained network from a checkpoint, or its logits replayed from a cache.

A teacher maps a training batch to ``(B, num_classes)`` logits. It is deliberately *not* an
``nn.Module`` attribute of the student's task: it stays out of ``parameters()`` (the optimiser and
EMA never see it), out of ``state_dict()`` (checkpoints hold the student only), and out of
``task.train()`` (its dropout and batch-norm statistics stay in eval mode for good).

What the teacher sees: the clip *before* the student's augmentation, through the teacher's own
evaluation preprocessing (centre crop and pixel statistics from its checkpoint's config).
NOTE: timm's logit distillation feeds the teacher the student's augmented view instead. Seeing the
clean clip makes a teacher's logits a property of the clip, so the live and the cached teacher give
the same targets, and teacher and student may use different input geometries (88 vs 44 px crops).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from lipreading.utils.errors import ConfigError

log = logging.getLogger(__name__)
VideoTransform = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class FrozenTeacher:
    """A trained network that only answers: eval mode, no gradients, shared (not copied) by deepcopy."""

    def __init__(self, net: nn.Module, transform: VideoTransform, vocabulary: Sequence[str] | None,
                 source: str) -> None:
        self.net = net.eval().requires_grad_(False)
        self.transform = transform
        self.vocabulary = list(vocabulary) if vocabulary is not None else None
        self.num_classes: int = net.num_classes
        self.source = source

    def __deepcopy__(self, memo: dict[int, Any]) -> FrozenTeacher:
        # EMAWeightAveraging deep-copies the whole task; a frozen teacher needs no second copy.
        return self

    @torch.no_grad()
    def __call__(self, batch: dict[str, Any]) -> torch.Tensor:
        """Logits ``(B, num_classes)`` for the clean uint8 clips ``batch["raw_video"]`` ``(B, T, H, W)``."""
        video, lengths = batch["raw_video"], batch["lengths"]
        self.net.to(video.device)  # a no-op once it is there
        if not getattr(self.net, "use_boundary", False):
            return self.net(self.transform(video, lengths), lengths)
        if batch.get("boundary") is None:
            raise ConfigError(f"teacher {self.source} reads word boundaries but the batches carry none; "
                              "set data.use_boundary=true")
        return self.net(self.transform(video, lengths), lengths, batch["boundary"])

    def fingerprint(self) -> str:
        """Identifies this teacher's checkpoint file (path, size, modification time)."""
        path = Path(self.source).resolve()
        stat = path.stat()
        return f"{path}:{stat.st_size}:{stat.st_mtime_ns}"


class CachedTeacher:
    """Replays a teacher's logits by clip path (see :func:`compute_teacher_logits`)."""

    def __init__(self, logits_by_path: dict[str, torch.Tensor], teacher: FrozenTeacher) -> None:
        self.logits_by_path = logits_by_path
        self.vocabulary, self.num_classes, self.source = teacher.vocabulary, teacher.num_classes, teacher.source

    def __deepcopy__(self, memo: dict[int, Any]) -> CachedTeacher:
        return self

    def __call__(self, batch: dict[str, Any]) -> torch.Tensor:
        try:
            rows = [self.logits_by_path[path] for path in batch["path"]]
        except KeyError as e:
            raise ConfigError(f"the teacher-logits cache of {self.source} has no entry for the clip {e.args[0]}; "
                              "delete the cache file to rebuild it") from e
        return torch.stack(rows).to(batch["lengths"].device)


def check_vocabulary(teacher: FrozenTeacher | CachedTeacher, vocabulary: Sequence[str]) -> None:
    """Raise :class:`ConfigError` unless the teacher was trained on ``vocabulary`` in the same order."""
    words = list(vocabulary)
    if teacher.vocabulary is None:
        if teacher.num_classes != len(words):
            raise ConfigError(f"teacher {teacher.source} has {teacher.num_classes} classes but the data has "
                              f"{len(words)} words")
        log.warning("teacher %s stores no vocabulary; only the number of classes was checked", teacher.source)
        return
    if teacher.vocabulary == words:
        return
    if len(teacher.vocabulary) != len(words):
        detail = f"{len(teacher.vocabulary)} words but the data has {len(words)}"
    else:
        index = next(i for i, (a, b) in enumerate(zip(teacher.vocabulary, words)) if a != b)
        detail = f"class {index} as {teacher.vocabulary[index]!r} but the data has {words[index]!r}"
    raise ConfigError(f"teacher {teacher.source} was trained on another vocabulary ({detail}); distil on the "
                      "teacher's data and data.num_classes, or train a teacher on this vocabulary")


def cache_file(teacher: FrozenTeacher, split: str, paths: Sequence[str]) -> Path:
    """Where the logits of ``teacher`` on the clips ``paths`` of ``split`` are cached: beside its checkpoint."""
    key = hashlib.sha1("\n".join([teacher.fingerprint(), split, *paths]).encode()).hexdigest()[:16]
    source = Path(teacher.source)
    return source.parent / "teacher_logits" / f"{source.stem}-{split}-{key}.pt"


@torch.no_grad()
def compute_teacher_logits(teacher: FrozenTeacher, loader: torch.utils.data.DataLoader,
                           device: torch.device) -> dict[str, torch.Tensor]:
    """The teacher's float32 logits for every clip of ``loader`` (clean clips, collated uint8 batches)."""
    logits_by_path: dict[str, torch.Tensor] = {}
    for batch in loader:
        if "video" not in batch:
            continue
        batch = {"raw_video": batch["video"].to(device), "lengths": batch["lengths"].to(device),
                 "boundary": batch["boundary"].to(device) if "boundary" in batch else None, "path": batch["path"]}
        logits = teacher(batch).float().cpu()
        logits_by_path.update(zip(batch["path"], logits))
    return logits_by_path
