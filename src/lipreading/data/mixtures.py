"""Speech mixtures made on the fly from clips with audio: a target speaker (with its mouth video)
plus one or two interfering speakers at random relative levels, optionally with background noise.

Every mixture is a function of ``(seed, key)`` alone: evaluation keys are the mixture's index, so the
test mixtures are the same for every model and every run; training keys are ``(epoch, index)``,
so each epoch pairs every clip with new interferers and levels, and a resumed run draws the same.
The relative level of an interferer is the target-to-interferer power ratio in dB over the target's
samples (VisualVoice mixes at random levels the same way).

How interferers are paired with the target (``pairing``, :data:`PAIRINGS`): clips of other speakers
(the default), or, for benchmarks where audio alone is ambiguous, another utterance of the target's own
speaker (``same_voice``: the same voice, another word), a speaker of the other sex (``different_sex``)
or of the same sex with a base pitch less than ``max_pitch_gap`` apart (``close_pitch``); the last
two read each speaker's voice through ``voice_of`` (the synthetic audio-visual clips have one).
``same_voice_fraction`` makes that share of the training mixtures (keys ``(epoch, index)``) same-voice
ones, where the target's speaker has another word.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from lipreading.data.noise import mix_at_snr, pink_noise, white_noise

BACKGROUND_NOISES = {"white": white_noise, "pink": pink_noise}
MAX_DRAWS = 50  # attempts at an interferer of another speaker before giving up
PAIRINGS = ("other_speaker", "same_voice", "different_sex", "close_pitch")
BY_VOICE = ("different_sex", "close_pitch")  # the pairings that read the speakers' voices


class SpeakerVoice(Protocol):
    """What a pairing by voice reads of a speaker's voice (:class:`~lipreading.data.synthetic.espeak.Voice`)."""

    sex: str
    pitch: int


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
        pairing: str = "other_speaker",
        max_pitch_gap: float = 10.0,
        same_voice_fraction: float = 0.0,
        voice_of: Callable[[str], SpeakerVoice | None] | None = None,
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
        if pairing not in PAIRINGS:
            raise MixtureError(f"unknown pairing {pairing!r}; valid pairings: {', '.join(PAIRINGS)}")
        if not 0 <= same_voice_fraction <= 1:
            raise MixtureError(f"same_voice_fraction={same_voice_fraction} must be in [0, 1]")
        if pairing in BY_VOICE and voice_of is None:
            raise MixtureError(f"pairing={pairing} needs the speakers' voices, which only the synthetic audio-visual "
                               "clips record (data.clips: synthetic_av_words)")
        self.pairing, self.max_pitch_gap, self.same_voice_fraction = pairing, max_pitch_gap, same_voice_fraction
        self.voice_of = voice_of
        self._speakers: list[str] | None = None
        self._voices: dict[str, SpeakerVoice | None] = {}
        self._eligible: dict[str, list[int]] = {}
        self.clips, self.seed, self.num_speakers = clips, seed, num_speakers
        self.level_db = (float(level_db[0]), float(level_db[1]))
        self.noise_kinds, self.noise_snr_db, self.noise_prob = list(noise_kinds), tuple(noise_snr_db), noise_prob
        self.size = size

    def __len__(self) -> int:
        return self.size if self.size is not None else len(self.clips)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any] | None:
        epoch, index = key if isinstance(key, tuple) else (-1, key)
        rng = np.random.default_rng([*np.atleast_1d(self.seed).tolist(), epoch + 1, index])
        pairing = self.pairing
        if self.same_voice_fraction and rng.random() < self.same_voice_fraction and self.size is None:
            # A training target whose speaker has no other word keeps the pairing it has.
            pairing = "same_voice" if self._partners("same_voice", [index]) else pairing
        if self.size is None:
            target_index = index
        elif pairing == "other_speaker":
            target_index = int(rng.integers(len(self.clips)))
        else:  # a target that has partners of this pairing
            target_index = int(rng.choice(self._targets_with_partners(pairing)))
        target = self.clips[target_index]
        if target is None:  # an unreadable clip, already reported by the clip dataset
            return None
        audio = target["audio"].numpy()
        speakers = [target.get("speaker", "") or f"#{target_index}"]
        used = [target_index]
        sources, paths, levels = [audio], [], []
        for _ in range(self.num_speakers - 1):
            if pairing == "other_speaker":
                index_j, other = self._draw_interferer(rng, speakers)
            else:
                index_j = self._draw_partner(rng, pairing, used)
                other = self.clips[index_j]
            used.append(index_j)
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

    def speaker_table(self) -> list[str]:
        """Every clip's speaker (``#index`` for an unknown one, ``''`` for an unreadable clip), read once."""
        if self._speakers is None:
            items = (self.clips[i] for i in range(len(self.clips)))
            self._speakers = [("" if item is None else item.get("speaker", "") or f"#{i}") for i, item in enumerate(items)]
        return self._speakers

    def _partners(self, pairing: str, used: list[int]) -> list[int]:
        """The clips that may join the clips ``used`` (the target first) under ``pairing``."""
        speakers = self.speaker_table()
        target = speakers[used[0]]
        taken = {speakers[i] for i in used}
        if pairing == "same_voice":  # another utterance of the target's speaker, of another word
            labels = {self.clips[i].get("label") for i in used}
            return [i for i, s in enumerate(speakers) if s == target and i not in used
                    and (self.clips[i].get("label") not in labels or None in labels)]
        voice = self._voice(target)
        partners = []
        for i, speaker in enumerate(speakers):
            if not speaker or speaker in taken:
                continue
            other = self._voice(speaker)
            same_sex = other.sex == voice.sex
            if (pairing == "different_sex" and not same_sex) or (
                pairing == "close_pitch" and same_sex and abs(other.pitch - voice.pitch) < self.max_pitch_gap
            ):
                partners.append(i)
        return partners

    def _voice(self, speaker: str) -> SpeakerVoice:
        if speaker not in self._voices:
            self._voices[speaker] = self.voice_of(speaker) if self.voice_of is not None else None
        voice = self._voices[speaker]
        if voice is None:
            raise MixtureError(f"speaker {speaker!r} has no known voice: pairing={self.pairing} needs the synthetic "
                               "audio-visual clips' speakers")
        return voice

    def _targets_with_partners(self, pairing: str) -> list[int]:
        cache = self._eligible
        if pairing not in cache:
            speakers = self.speaker_table()
            cache[pairing] = [i for i, s in enumerate(speakers) if s and len(self._partners(pairing, [i])) >= self.num_speakers - 1]
            if not cache[pairing]:
                raise MixtureError(f"no clip of this split has {self.num_speakers - 1} partner(s) for pairing={pairing}")
        return cache[pairing]

    def _draw_partner(self, rng: np.random.Generator, pairing: str, used: list[int]) -> int:
        partners = self._partners(pairing, used)
        if not partners:
            raise MixtureError(f"clip {used[0]} (speaker {self.speaker_table()[used[0]]!r}) has no partner for "
                               f"pairing={pairing}: the split has too few clips of such speakers")
        return int(partners[int(rng.integers(len(partners)))])

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
