"""Lightning datamodules for word-level lipreading."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch
from torch.utils.data import DataLoader

from lipreading.data.base import ClipDataModule, check_modality, reads_audio, require_audio
from lipreading.data.clip import FPS
from lipreading.data.loaders import EpochKeyedSampler, run_seed
from lipreading.data.synthetic import default_vocabulary, generate_word_dataset
from lipreading.data.synthetic.espeak import Voice
from lipreading.data.synthetic.speech import voice_of_speaker
from lipreading.data.variable_length import VariableLengthCrops
from lipreading.data.word_clips import WordClipDataset, check_annotations, collate_clips, scan_word_clips
from lipreading.utils.errors import ConfigError

log = logging.getLogger(__name__)

VideoTransform = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
AudioTransform = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class WordDataModule(ClipDataModule):
    """Word clips in the LRW-mirrored layout (``ROOT/WORD/{train,val,test}/*.npz``).

    ``vocabulary`` lists the words (class ``i`` is ``vocabulary[i]``); ``None`` takes the
    sorted folder names under ``root``. Batches carry uint8 video; the transforms run on
    the training device after transfer (:meth:`on_after_batch_transfer`).
    Batches carry the per-frame word ``boundary`` (B, T) only with ``use_boundary``.
    ``num_frames`` states the clips' fixed length (LRW: 29), None for clips of any length (LRW-1000);
    checkpoints record it as the length the model expects.
    With ``modality`` ``audio`` or ``av`` batches also carry ``audio`` (B, T * 640) at 16 kHz,
    transformed by ``audio_train_transform`` / ``audio_eval_transform`` (noise, standardisation);
    a dataset whose clips have no audio is an error at set-up.
    With ``variable_length`` every training clip is cut in time at random around its word, anew each
    epoch (:mod:`lipreading.data.variable_length`); it is off when word boundaries are an input
    (``use_boundary``), as in the reference. ``annotation_dir`` (the raw LRW ``lipread_mp4`` folder)
    gives clips without word boundaries, such as the TCN reference's ``.npz`` mouth crops, their word
    from the ``Duration:`` line of ``WORD/split/WORD_NNNNN.txt`` there.
    """

    def __init__(
        self,
        root: str,
        num_classes: int,
        train_transform: VideoTransform,
        eval_transform: VideoTransform,
        vocabulary: Sequence[str] | None = None,
        batch_size: int = 32,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        preload: bool = False,
        setup_hint: str = "",
        use_boundary: bool = False,
        modality: str = "video",
        audio_train_transform: AudioTransform | None = None,
        audio_eval_transform: AudioTransform | None = None,
        audio_mismatch: str = "trim",
        num_frames: int | None = None,
        variable_length: bool = False,
        annotation_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.modality = check_modality(modality)
        self.num_frames = num_frames
        if variable_length and use_boundary:
            log.info("variable-length augmentation is off: word boundaries are an input (data.use_boundary=true)")
        self.variable_length = variable_length and not use_boundary
        self.annotation_dir = Path(annotation_dir) if annotation_dir else None
        self.audio_train_transform, self.audio_eval_transform = audio_train_transform, audio_eval_transform
        self.audio_mismatch = audio_mismatch
        self.root = Path(root)
        self.num_classes = num_classes
        self.train_transform, self.eval_transform = train_transform, eval_transform
        self._vocabulary = list(vocabulary) if vocabulary is not None else None
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.preload = preload
        self.setup_hint = setup_hint
        self.use_boundary = use_boundary
        self.datasets: dict[str, WordClipDataset] = {}

    @property
    def vocabulary(self) -> list[str]:
        """The class names, in label order."""
        if self._vocabulary is None:
            self._check_root()
            self._vocabulary = sorted(p.name for p in self.root.iterdir() if p.is_dir())
        return self._vocabulary

    def _check_root(self) -> None:
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset directory {self.root} does not exist. {self.setup_hint}".strip())

    def setup_split(self, split: str) -> None:
        """Index the clips of ``split`` (once)."""
        if split in self.datasets:
            return
        self._check_root()
        if len(self.vocabulary) != self.num_classes:
            raise ConfigError(
                f"{self.root} holds {len(self.vocabulary)} words but data.num_classes is "
                f"{self.num_classes}; set data.num_classes={len(self.vocabulary)} or fix data.vocabulary"
            )
        items = scan_word_clips(self.root, split, self.vocabulary)
        if not items:
            raise FileNotFoundError(f"{self.root}: no '{split}' clips found (*.npz under WORD/{split}/)")
        if self.with_audio:
            require_audio(self.modality, self.root, items[0][0])
        if self.annotation_dir is not None:
            check_annotations(self.annotation_dir, items[0][0])
        self.datasets[split] = WordClipDataset(
            items, preload=self.preload, audio=self.with_audio, audio_mismatch=self.audio_mismatch,
            annotation_dir=self.annotation_dir,
        )

    @property
    def with_audio(self) -> bool:
        """Whether batches carry audio (``modality`` audio or av)."""
        return reads_audio(self.modality)

    def dataloader(self, split: str) -> DataLoader:
        """An evaluation loader over ``split`` (set up first): fixed order, every clip (this rank's share)."""
        return self.ordered_loader(self.datasets[split], collate_clips)

    def train_dataloader(self) -> DataLoader:
        if not self.variable_length:
            return self.shuffled_loader(self.datasets["train"], collate_clips, str(self.root))
        crops = VariableLengthCrops(self.datasets["train"], run_seed())
        return self.shuffled_loader(crops, collate_clips, str(self.root), EpochKeyedSampler)

    def state_dict(self) -> dict[str, Any]:
        """The training audio transform's state (its noise generator and babble bank), saved in checkpoints
        so that a resumed run adds the same noise."""
        transform = self.audio_train_transform
        return {"audio_train_transform": transform.state_dict()} if hasattr(transform, "state_dict") else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "audio_train_transform" in state:
            self.audio_train_transform.load_state_dict(state["audio_train_transform"])

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int) -> dict[str, Any]:
        batch = super().on_after_batch_transfer(batch, dataloader_idx)
        if "audio" in batch:
            audio_transform = self.audio_train_transform if self.training else self.audio_eval_transform
            if audio_transform is not None:
                audio_lengths = batch["lengths"] * (batch["audio"].shape[1] // batch["video"].shape[2])
                batch["audio"] = audio_transform(batch["audio"], audio_lengths)
        if not self.use_boundary:
            batch.pop("boundary", None)
        return batch


class SyntheticWordDataModule(WordDataModule):
    """The embedded default: synthetic word clips rendered on first use into ``root``.

    Generation is deterministic from ``seed`` and cached: a second run reuses the files.
    ``first_word=N`` takes the ``num_classes`` words after the first N of the default vocabulary (other
    words, e.g. to fine-tune a model of the first N to them; give it a ``root`` of its own).
    ``kind="synthetic_av_words"`` renders the audio-visual clips (eSpeak NG speech in sync with the
    mouth; needs the optional speech extra).
    """

    def __init__(
        self,
        root: str,
        num_classes: int,
        train_transform: VideoTransform,
        eval_transform: VideoTransform,
        clips_per_word: Mapping[str, int],
        frame_size: int = 96,
        num_frames: int = 29,
        fps: float = FPS,
        seed: int = 0,
        generation_workers: int | None = None,
        kind: str = "synthetic_words",
        first_word: int = 0,
        **kwargs: Any,
    ) -> None:
        if first_word < 0:
            raise ConfigError(f"data.first_word={first_word}: use 0 or more")
        super().__init__(
            root, num_classes, train_transform, eval_transform,
            vocabulary=default_vocabulary(first_word + num_classes)[first_word:], num_frames=num_frames, **kwargs,
        )
        self.generation = {
            "clips_per_word": dict(clips_per_word),
            "frame_size": frame_size,
            "num_frames": num_frames,
            "fps": fps,
            "seed": seed,
            "kind": kind,
        }
        self.generation_workers = generation_workers

    def prepare_data(self) -> None:
        generate_word_dataset(self.root, self.vocabulary, workers=self.generation_workers, **self.generation)

    def voice_of(self, speaker: str) -> Voice | None:
        """The eSpeak NG voice of a clip's ``speaker`` (audio-visual clips; None otherwise): what
        separation mixtures paired by voice (same voice, sex, pitch) read."""
        if self.generation["kind"] != "synthetic_av_words":
            return None
        return voice_of_speaker(self.generation["seed"], speaker)
