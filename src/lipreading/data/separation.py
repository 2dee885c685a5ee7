"""The datamodule of speech separation: on-the-fly mixtures of the clips of any dataset with audio."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

from torch.utils.data import DataLoader, Subset

from lipreading.data.base import ClipDataModule
from lipreading.data.loaders import EpochKeyedSampler
from lipreading.data.mixtures import MixtureDataset, collate_mixtures
from lipreading.utils.errors import ConfigError

# Seeds of the evaluation mixtures of each split (offsets of the datamodule's seed).
SPLIT_SEEDS = {"train": 0, "val": 1, "test": 2}


class SeparationDataModule(ClipDataModule):
    """Mixtures of the clips of ``clips``, a word or sentence datamodule whose clips have audio.

    ``clips`` generates (``prepare_data``) and indexes (``setup_split``) its clips as for
    recognition; its video transforms crop and normalise the target's mouth. Training draws new
    mixtures every epoch (one per training clip, that clip as the target); validation and test use
    ``num_val_mixtures`` / ``num_test_mixtures`` fixed mixtures drawn from ``seed``, the same for
    every model. Batches hold ``mixture`` (B, N), ``sources`` (B, S, N) (the target first),
    ``video`` (the target's mouth), ``lengths`` (frames) and the mixing parameters.
    ``pairing`` chooses the interferers (:data:`~lipreading.data.mixtures.PAIRINGS`) and
    ``same_voice_fraction`` makes that share of the training mixtures two utterances of one voice.
    ``conditions`` names benchmark test sets, each a change of these mixing options (e.g.
    ``same_voice: {pairing: same_voice}``); :meth:`set_condition` evaluates one of them on its own
    fixed, seeded mixtures (``eval.py eval.conditions=all``); a condition that changes nothing is the
    split's own mixtures.
    """

    def __init__(
        self,
        clips: ClipDataModule,
        num_speakers: int = 2,
        level_db: Sequence[float] = (-5.0, 5.0),
        noise_kinds: Sequence[str] = (),
        noise_snr_db: Sequence[float] = (0.0, 20.0),
        noise_prob: float = 0.0,
        pairing: str = "other_speaker",
        max_pitch_gap: float = 10.0,
        same_voice_fraction: float = 0.0,
        conditions: Mapping[str, Mapping[str, Any]] | None = None,
        num_val_mixtures: int = 200,
        num_test_mixtures: int = 500,
        batch_size: int = 16,
        eval_batch_size: int = 32,
        num_workers: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if getattr(clips, "modality", "video") == "video":
            raise ConfigError(
                "separation mixes the clips' audio: the clip dataset must load it (set its modality to av, "
                "e.g. data.clips.modality=av)"
            )
        self.clips = clips
        self.mixing = {
            "num_speakers": num_speakers,
            "level_db": tuple(level_db),
            "noise_kinds": tuple(noise_kinds),
            "noise_snr_db": tuple(noise_snr_db),
            "noise_prob": noise_prob,
            "pairing": pairing,
            "max_pitch_gap": max_pitch_gap,
        }
        self.same_voice_fraction = same_voice_fraction
        self.conditions = {name: dict(change or {}) for name, change in (conditions or {}).items()}
        for name, change in self.conditions.items():
            unknown = sorted(set(change) - set(self.mixing))
            if unknown:
                raise ConfigError(f"data.conditions.{name} changes {unknown}; a condition may change: {', '.join(self.mixing)}")
        self.condition: dict[str, str] = {}
        self.num_mixtures = {"val": num_val_mixtures, "test": num_test_mixtures}
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.num_workers, self.seed = num_workers, seed
        self.train_transform, self.eval_transform = clips.train_transform, clips.eval_transform
        self.mixtures: dict[str, MixtureDataset] = {}
        self.predict_indices: list[int] | None = None

    @property
    def num_speakers(self) -> int:
        return self.mixing["num_speakers"]

    def prepare_data(self) -> None:
        self.clips.prepare_data()

    def setup_split(self, split: str) -> None:
        if split in self.mixtures:
            return
        self.clips.setup_split(split)
        size = None if split == "train" else self.num_mixtures.get(split)
        seed: int | tuple[int, int] = self.seed * 10 + SPLIT_SEEDS.get(split, 3)
        mixing = dict(self.mixing)
        name = self.condition.get(split)
        if name is not None and self.conditions[name]:  # a benchmark condition: its own mixtures, seeded by its name
            mixing.update(self.conditions[name])
            seed = (seed, zlib.crc32(name.encode()))
        voice_of = getattr(self.clips, "voice_of", None)
        self.mixtures[split] = MixtureDataset(
            self.clips.datasets[split], seed=seed, size=size, voice_of=voice_of,
            same_voice_fraction=self.same_voice_fraction if split == "train" else 0.0, **mixing,
        )

    def set_num_mixtures(self, split: str, count: int) -> None:
        """Evaluate ``count`` fixed mixtures of ``split`` (eval.py's ``eval.num_mixtures``)."""
        self.num_mixtures[split] = count
        self.mixtures.pop(split, None)

    def set_condition(self, split: str, name: str | None) -> None:
        """Mix ``split`` as benchmark condition ``name`` (one of ``conditions``; None: as configured)."""
        if name is not None and name not in self.conditions:
            known = ", ".join(self.conditions) or "none (set data.conditions)"
            raise ConfigError(f"unknown separation condition {name!r}; this data config defines: {known}")
        if name is None:
            self.condition.pop(split, None)
        else:
            self.condition[split] = name
        self.mixtures.pop(split, None)

    def dataloader(self, split: str) -> DataLoader:
        """The fixed mixtures of ``split`` in order (this rank's share)."""
        return self.ordered_loader(self.mixtures[split], collate_mixtures)

    def predict_dataloader(self) -> DataLoader:
        """The fixed mixtures of ``predict_split``, only those of ``predict_indices`` when it is set (a batch
        evaluation that continues where it stopped)."""
        mixtures = self.mixtures[self.predict_split]
        indices = self.predict_indices
        return self.ordered_loader(mixtures if indices is None else Subset(mixtures, indices), collate_mixtures)

    def train_dataloader(self) -> DataLoader:
        source = f"mixtures of {getattr(self.clips, 'root', 'the clips')}"
        return self.shuffled_loader(self.mixtures["train"], collate_mixtures, source, EpochKeyedSampler)
