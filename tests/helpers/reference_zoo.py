"""State dicts under the reference zoo's key names and shapes (its listings), with random tensors: never weights."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from lipreading.data.clip import Clip, save_clip
from lipreading.interop.tcn_reference import HEAD_KEYS, reference_listing, reference_vocabulary


def listed_state(name: str, num_classes: int = 500, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under zoo entry ``name``'s key names, shapes and dtypes (weights scaled by their fan-in,
    BatchNorm variances positive, so that a forward pass stays finite); a repeated registration holds the same
    tensor as its original, as in the reference's own state dict."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for t in reference_listing(name):
        if t.same_as:
            state[t.name] = state[t.same_as]
            continue
        shape = (num_classes, *t.shape[1:]) if t.name in HEAD_KEYS else t.shape
        if t.dtype == torch.int64:
            state[t.name] = torch.randint(0, 10_000, shape, generator=g)
        else:
            values = torch.randn(shape, generator=g)
            if t.name.endswith("running_var"):
                values = values.abs_().add_(0.5)
            elif len(shape) > 1:
                values /= math.prod(shape[1:]) ** 0.5
            state[t.name] = values
    return state


def listed_shapes(name: str, num_classes: int = 500) -> dict[str, torch.Tensor]:
    """Uninitialised tensors under zoo entry ``name``'s key names and shapes: enough to detect an architecture."""
    return {t.name: torch.empty((num_classes, *t.shape[1:]) if t.name in HEAD_KEYS else t.shape, dtype=t.dtype)
            for t in reference_listing(name)}


def write_reference_file(path: Path, name: str, num_classes: int = 500, seed: int = 0) -> Path:
    """A reference checkpoint file of zoo entry ``name`` as the reference's code saves it: ``{'model_state_dict': ...}``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_state_dict": listed_state(name, num_classes, seed)}, path)
    return path


def write_lrw_layout(root: Path, words_with_clips: int = 2, size: int = 96) -> Path:
    """LRW's layout for the reference's 500 words (every word/split folder, so the data reads the zoo's 500
    classes in its order), with two random-pixel clips a split for the first ``words_with_clips`` words."""
    rng = np.random.default_rng(0)
    for index, word in enumerate(reference_vocabulary()):
        for split in ("train", "val", "test"):
            folder = root / word / split
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(2 if index < words_with_clips else 0):
                video = rng.integers(0, 256, (29, size, size), dtype=np.uint8)
                save_clip(folder / f"{word}_{i:05d}.npz", Clip(video=video, label=word, word_start=0.4, word_end=0.8))
    return root
