"""Variable-length augmentation: each training word clip cut in time at random, keeping the whole word.

Paper: B. Martinez, P. Ma, S. Petridis, M. Pantic, "Lipreading using Temporal Convolutional
Networks", ICASSP 2020 (Section 3.3: training on clips of varying length makes the model robust
to where the word sits and how much context surrounds it). Reference implementation:
``MyDataset._apply_variable_length_aug`` in ``lipreading/dataset.py`` of
github.com/mpc001/Lipreading_using_Temporal_Convolutional_Networks: the first kept frame is drawn
uniformly between the clip's start and a frame before the word, the end uniformly between the
frame after the word and the clip's end. The word's frames come from its boundaries (LRW's
``Duration:`` metadata, centred in the clip; the synthetic renderer knows its own); a clip whose
word boundaries are unknown is kept whole.

NOTE: the reference draws with Python's global ``random``; here every cut is a function of
``(seed, epoch, clip)`` alone, so a resumed run and any number of loader workers cut the same.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset


def random_word_span(boundary: torch.Tensor, rng: np.random.Generator) -> tuple[int, int]:
    """Random ``[left, right)`` frames of a clip that hold every frame of its word (``boundary`` 1 inside).

    ``left`` is uniform in ``[0, first - 1]`` (so at least a frame before the word stays, where the clip
    has one) and ``right`` in ``[last + 1, T]``, as the reference draws them; a clip whose boundary is
    all ones (the word everywhere, or unknown) is kept whole.
    """
    frames = len(boundary)
    inside = torch.nonzero(boundary > 0).flatten()
    if len(inside) == 0 or len(inside) == frames:
        return 0, frames
    first, last = int(inside[0]), int(inside[-1])
    left = int(rng.integers(0, max(first - 1, 0) + 1))
    right = int(rng.integers(last + 1, frames + 1))
    return left, right


class VariableLengthCrops(Dataset):
    """The items of a word clip dataset, each cut by :func:`random_word_span` anew every epoch.

    Keys are ``(epoch, index)`` (the training loader's :class:`~lipreading.data.loaders.EpochKeyedSampler`);
    the video, its per-frame boundary and the audio (``samples_per_frame`` samples a frame) are cut alike.
    """

    def __init__(self, clips: Dataset, seed: int) -> None:
        self.clips, self.seed = clips, seed

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any] | None:
        epoch, index = key
        item = self.clips[index]
        if item is None:  # an unreadable clip, already reported by the dataset
            return None
        left, right = random_word_span(item["boundary"], np.random.default_rng([self.seed, epoch + 1, index]))
        cut = {**item, "video": item["video"][left:right], "boundary": item["boundary"][left:right]}
        if "audio" in item:
            samples_per_frame = len(item["audio"]) // len(item["video"])
            cut["audio"] = item["audio"][left * samples_per_frame : right * samples_per_frame]
        return cut
