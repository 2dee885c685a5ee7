"""On-the-fly mixtures: levels, speakers, lengths, determinism, noise, collation and the datamodule."""

from pathlib import Path

import numpy as np
import pytest
import torch

from lipreading.data.clip import Clip, save_clip
from lipreading.data.datamodules import WordDataModule
from lipreading.data.loaders import EpochKeyedSampler
from lipreading.data.mixtures import MixtureDataset, MixtureError, collate_mixtures, fit_length, power, scale_to_level
from lipreading.data.separation import SeparationDataModule
from lipreading.data.transforms import EvalVideoTransform
from lipreading.utils.errors import ConfigError


def clip_items(count: int, speakers: list[str], frames: int = 10, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    return [{
        "audio": torch.from_numpy(rng.standard_normal(frames * 640).astype(np.float32) * (i + 1)),
        "video": torch.from_numpy(rng.integers(0, 255, (frames, 8, 8), dtype=np.uint8)),
        "speaker": speakers[i % len(speakers)], "path": f"clip{i}.npz",
    } for i in range(count)]


def test_the_interferer_is_scaled_to_the_relative_level():
    rng = np.random.default_rng(1)
    target, interferer = rng.standard_normal(16000), 0.01 * rng.standard_normal(16000)
    for level in (-5.0, 0.0, 5.0):
        scaled = scale_to_level(target, interferer, level)
        assert 10 * np.log10(power(target) / power(scaled)) == pytest.approx(level, abs=1e-4)


def test_lengths_are_fitted_by_cutting_or_padding():
    rng = np.random.default_rng(0)
    audio = np.arange(10, dtype=np.float32) + 1
    cut = fit_length(audio, 4, rng)
    assert len(cut) == 4 and np.all(np.diff(cut) == 1)
    padded = fit_length(audio, 15, rng)
    assert len(padded) == 15 and np.count_nonzero(padded) == 10


def test_mixture_is_the_sum_of_its_sources_with_other_speakers_at_the_drawn_level():
    items = clip_items(12, ["a", "b", "c"])
    dataset = MixtureDataset(items, seed=3, num_speakers=3, level_db=(-5, 5))
    for index in range(12):
        mix = dataset[index]
        torch.testing.assert_close(mix["mixture"], mix["sources"].sum(0))
        torch.testing.assert_close(mix["sources"][0], items[index]["audio"])
        assert len(set(mix["speakers"])) == 3 and mix["speakers"][0] == items[index]["speaker"]
        for source, level in zip(mix["sources"][1:], mix["level_db"]):
            assert -5 <= level <= 5
            ratio = 10 * np.log10(power(mix["sources"][0].numpy()) / power(source.numpy()))
            assert ratio == pytest.approx(float(level), abs=1e-3)


def test_test_mixtures_are_deterministic_and_training_mixtures_change_each_epoch():
    items = clip_items(10, ["a", "b", "c", "d"])
    fixed = MixtureDataset(items, seed=7, size=25)
    again = MixtureDataset(items, seed=7, size=25)
    assert len(fixed) == 25
    for i in range(25):
        torch.testing.assert_close(fixed[i]["mixture"], again[i]["mixture"])
    assert not torch.equal(fixed[0]["mixture"], MixtureDataset(items, seed=8, size=25)[0]["mixture"])
    training = MixtureDataset(items, seed=7)
    first, second = training[(0, 4)], training[(1, 4)]
    torch.testing.assert_close(first["sources"][0], second["sources"][0])  # the same target clip
    assert first["interferers"] != second["interferers"] or not torch.equal(first["mixture"], second["mixture"])
    torch.testing.assert_close(training[(0, 4)]["mixture"], first["mixture"])


def test_keyed_sampler_yields_epoch_and_index():
    sampler = EpochKeyedSampler(6, seed=0)
    sampler.set_epoch(3)
    keys = list(sampler)
    assert sorted(i for _, i in keys) == list(range(6)) and {e for e, _ in keys} == {3}


def test_background_noise_lowers_the_snr_to_the_drawn_value():
    items = clip_items(6, ["a", "b"])
    dataset = MixtureDataset(items, seed=0, noise_kinds=["white", "pink"], noise_snr_db=(5, 5), noise_prob=1.0, size=4)
    mix = dataset[0]
    clean = mix["sources"].sum(0)
    noise = mix["mixture"] - clean
    assert mix["noise_snr_db"] == 5
    assert 10 * np.log10(power(clean.numpy()) / power(noise.numpy())) == pytest.approx(5, abs=1e-3)


def test_impossible_mixtures_are_named():
    with pytest.raises(MixtureError, match="at least 2 speakers"):
        MixtureDataset(clip_items(4, ["a"]), seed=0, num_speakers=1)
    with pytest.raises(MixtureError, match="unknown background noise"):
        MixtureDataset(clip_items(4, ["a", "b"]), seed=0, noise_kinds=["brown"])
    one_speaker = MixtureDataset(clip_items(4, ["a"]), seed=0)
    with pytest.raises(MixtureError, match="too few speakers"):
        one_speaker[0]


def test_unreadable_targets_are_dropped_and_counted_by_the_collation():
    items = clip_items(6, ["a", "b"], frames=10)
    items[2] = None
    dataset = MixtureDataset(items, seed=0)
    batch = collate_mixtures([dataset[i] for i in range(6)])
    assert batch["skipped"] == 1 and batch["mixture"].shape == (5, 6400) and batch["sources"].shape == (5, 2, 6400)
    assert batch["video"].shape == (5, 10, 8, 8) and batch["lengths"].tolist() == [10] * 5


def write_av_clips(root: Path, words: list[str], per_split: int, speakers: int) -> None:
    rng = np.random.default_rng(0)
    for w, word in enumerate(words):
        for split in ("train", "val", "test"):
            for i in range(per_split):
                save_clip(root / word / split / f"{word}_{i:05d}.npz", Clip(
                    video=rng.integers(0, 255, (12, 48, 48), dtype=np.uint8), label=word,
                    audio=rng.standard_normal(12 * 640).astype(np.float32) * 0.1, sample_rate=16000,
                    speaker=f"s{(w * per_split + i) % speakers}"))


def test_datamodule_mixes_the_clips_of_any_word_dataset_with_audio(tmp_path: Path):
    write_av_clips(tmp_path / "roi", ["ABOUT", "WORLD"], per_split=4, speakers=3)
    transform = EvalVideoTransform(44, 0.4, 0.2)
    with pytest.raises(ConfigError, match="modality to av"):
        SeparationDataModule(WordDataModule(str(tmp_path / "roi"), 2, transform, transform))
    clips = WordDataModule(str(tmp_path / "roi"), 2, transform, transform, modality="av")
    datamodule = SeparationDataModule(clips, batch_size=4, eval_batch_size=5, num_test_mixtures=7)
    datamodule.setup("test")
    batches = list(datamodule.test_dataloader())
    assert sum(len(b["lengths"]) for b in batches) == 7
    batch = datamodule.on_after_batch_transfer(batches[0], 0)
    assert batch["video"].shape == (5, 1, 12, 44, 44) and batch["sources"].shape == (5, 2, 12 * 640)
    datamodule.set_num_mixtures("test", 3)
    datamodule.setup("test")
    assert len(datamodule.mixtures["test"]) == 3
    datamodule.setup("fit")
    assert len(datamodule.mixtures["train"]) == 8
