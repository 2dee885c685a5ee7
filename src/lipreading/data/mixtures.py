"""Speech mixtures made on the fly from clips with audio: a target speaker (with its mouth video)
plus one or two interfering speakers at random relative levels, optionally with background noise.

Every mixture is a function of ``(seed, key)`` alone: evaluation keys are the mixture's index, so the
test mixtures are the same for every model and every run; training keys are ``(epoch, index)``,
so each epoch pairs every clip with new interferers and levels, and a resumed run draws the same.
The relative level of an interferer is the target-to-interferer power ratio in dB over the target's
samples (VisualVoice mixes at random levels the same way).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from lipreading.data.noise import mix_at_snr, pink_noise, white_noise

BACKGROUND_NOISES = {"white": white_noise, "pink": pink_noise}
MAX_DRAWS = 50  # attempts at an interferer of another speaker before giving up


class MixtureError(ValueError):
    """No valid mixture can be drawn (too few clips or speakers); the message says what to change."""


def power(signal: np.ndarray) -> float:
    """Mean power of ``signal``."""
    return float(np.mean(np.square(signal, dtype=np.float64))) if len(signal) else 0.0


def scale_to_level(target: np.ndarray, interferer: np.ndarray, level_db: float) -> np.ndarray:
    """``interferer`` scaled so that the target-to-interferer power ratio is ``level_db``."""
    interferer_power = power(interferer)
    if interferer_power <= 0:
        return interferer.copy()
    gain = np.sqrt(power(target) / (interferer_power * 10 ** (level_db / 10)))
    return (interferer * gain).astype(np.float32)


def fit_length(audio: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """``audio`` cut to ``length`` samples at a random start, or zero-padded around a random offset."""
    if len(audio) >= length:
        start = int(rng.integers(len(audio) - length + 1))
        return audio[start : start + length]
    out = np.zeros(length, dtype=np.float32)
    start = int(rng.integers(length - len(audio) + 1))
    out[start : start + len(audio)] = audio
    return out


class MixtureDataset(Dataset):
    """Mixtures of the clips of ``clips`` (items with ``audio``, ``video`` and ``speaker``).

    Item ``key`` (an index, or ``(epoch, index)`` in training) is clip ``index``'s speaker as the
    target, mixed with ``num_speakers - 1`` clips of other speakers (clips with an unknown speaker
    ``''`` count as speakers of their own), each at a relative level drawn from ``level_db``, then,
    with probability ``noise_prob``, background noise (``noise_kinds``) at an SNR drawn from
    ``noise_snr_db`` relative to the mixture. With ``size`` the evaluation keys ``0..size-1`` pick their
    target clip at random too (``eval.num_mixtures`` mixtures from any number of clips).
    The item's ``sources`` are the target first, then the interferers, as they sound in the mixture;
    its ``index`` is the key's index (what a batch evaluation records each mixture by).
    """

    def __init__(
        self,
        clips: Dataset,
        seed: int,
        num_speakers: int = 2,
        level_db: Sequence[float] = (-5.0, 5.0),
        noise_kinds: Sequence[str] = (),
        noise_snr_db: Sequence[float] = (0.0, 20.0),
        noise_prob: float = 0.0,
        size: int | None = None,
    ) -> None:
        if num_speakers < 2:
            raise MixtureError(f"num_speakers={num_speakers}: a mixture needs at least 2 speakers")
        if len(clips) < num_speakers:
            raise MixtureError(f"{len(clips)} clips cannot make a {num_speakers}-speaker mixture")
        if len(level_db) != 2 or level_db[0] > level_db[1]:
            raise MixtureError(f"level_db={list(level_db)} must be [low, high] in dB with low <= high")
        unknown = [k for k in noise_kinds if k not in BACKGROUND_NOISES]
        if unknown:
            raise MixtureError(f"unknown background noise {unknown}; valid kinds: {', '.join(BACKGROUND_NOISES)}")
        self.clips, self.seed, self.num_speakers = clips, seed, num_speakers
        self.level_db = (float(level_db[0]), float(level_db[1]))
        self.noise_kinds, self.noise_snr_db, self.noise_prob = list(noise_kinds), tuple(noise_snr_db), noise_prob
        self.size = size

    def __len__(self) -> int:
        return self.size if self.size is not None else len(self.clips)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any] | None:
        epoch, index = key if isinstance(key, tuple) else (-1, key)
        rng = np.random.default_rng([self.seed, epoch + 1, index])
        target_index = int(rng.integers(len(self.clips))) if self.size is not None else index
        target = self.clips[target_index]
        if target is None:  # an unreadable clip, already reported by the clip dataset
            return None
        audio = target["audio"].numpy()
        speakers = [target.get("speaker", "") or f"#{target_index}"]
        sources, paths, levels = [audio], [], []
        for _ in range(self.num_speakers - 1):
            index_j, other = self._draw_interferer(rng, speakers)
            speakers.append(other.get("speaker", "") or f"#{index_j}")
            level = float(rng.uniform(*self.level_db))
            sources.append(scale_to_level(audio, fit_length(other["audio"].numpy(), len(audio), rng), level))
            paths.append(other["path"])
            levels.append(level)
        stacked = torch.from_numpy(np.stack(sources))  # (S, N)
        mixture = stacked.sum(0)
        noise_snr = float("nan")
        if self.noise_kinds and rng.random() < self.noise_prob:
            mixture, noise_snr = self._add_noise(mixture, rng)
        return {
            "index": index,
            "mixture": mixture,
            "sources": stacked,
            "video": target["video"],
            "path": target["path"],
            "interferers": paths,
            "speakers": speakers,
            "level_db": torch.tensor(levels),
            "noise_snr_db": noise_snr,
        }

    def _draw_interferer(self, rng: np.random.Generator, taken: list[str]) -> tuple[int, dict[str, Any]]:
        for _ in range(MAX_DRAWS):
            index = int(rng.integers(len(self.clips)))
            item = self.clips[index]
            if item is not None and (item.get("speaker", "") or f"#{index}") not in taken:
                return index, item
        raise MixtureError(
            f"found no clip of a speaker other than {taken} in {MAX_DRAWS} draws: the split has too few "
            f"speakers (or readable clips) for {self.num_speakers}-speaker mixtures"
        )

    def _add_noise(self, mixture: torch.Tensor, rng: np.random.Generator) -> tuple[torch.Tensor, float]:
        kind = self.noise_kinds[int(rng.integers(len(self.noise_kinds)))]
        generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        noise = BACKGROUND_NOISES[kind]((1, len(mixture)), generator, mixture.device)
        snr = float(rng.uniform(*self.noise_snr_db))
        noisy = mix_at_snr(mixture[None], noise, torch.tensor([snr]), torch.tensor([len(mixture)]))
        return noisy[0], snr


def collate_mixtures(items: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Pad mixtures (and their target videos) to the longest; drop unreadable ones and count them."""
    good = [item for item in items if item is not None]
    if not good:
        return {"skipped": len(items)}
    lengths = torch.tensor([item["video"].shape[0] for item in good])
    frames = int(lengths.max())
    per_frame = good[0]["mixture"].shape[0] // good[0]["video"].shape[0]
    height, width = good[0]["video"].shape[1:3]
    video = torch.zeros(len(good), frames, height, width, dtype=torch.uint8)
    mixture = torch.zeros(len(good), frames * per_frame)
    sources = torch.zeros(len(good), good[0]["sources"].shape[0], frames * per_frame)
    for b, item in enumerate(good):
        video[b, : lengths[b]] = item["video"]
        mixture[b, : item["mixture"].shape[0]] = item["mixture"]
        sources[b, :, : item["sources"].shape[1]] = item["sources"]
    return {
        "index": torch.tensor([item["index"] for item in good]),
        "video": video,
        "lengths": lengths,
        "mixture": mixture,
        "sources": sources,
        "level_db": torch.stack([item["level_db"] for item in good]),
        "noise_snr_db": torch.tensor([item["noise_snr_db"] for item in good]),
        "path": [item["path"] for item in good],
        "interferers": [item["interferers"] for item in good],
        "speakers": [item["speakers"] for item in good],
        "skipped": len(items) - len(good),
    }
