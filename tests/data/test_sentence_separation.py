"""Speech-separation mixtures of sentence clips (Chinese-LiPS layout) and the LRW / Chinese-LiPS configs."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import hydra
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from lipreading.data.audio import SAMPLE_RATE, write_wav
from lipreading.data.chinese_lips import chinese_lips_listing
from lipreading.data.clip import load_clip, save_clip
from lipreading.data.datamodules import WordDataModule
from lipreading.data.sentence_datamodules import SentenceDataModule
from lipreading.data.separation import SeparationDataModule
from lipreading.preprocessing import PreprocessConfig, process_listing
from lipreading.utils.errors import ConfigError
from tests.data.test_chinese_lips_layout import OFFICIAL, row, write_meta
from tests.data.test_sentences import datamodule, write_layout
from tests.helpers.face_video import talking_head, write_video

RAW_FPS = 30.0  # Chinese-LiPS' face videos; preprocessing resamples them to 25 fps
# (split, clip id, frames at 30 fps, text): three speakers per split, clips of different lengths.
RAW_CLIPS = [
    ("train", "ID1_25_F_KJ_001", 9, "我们今天学习"),
    ("train", "ID1_25_F_KJ_002", 15, "科技改变生活"),
    ("train", "ID2_30_M_LY_001", 12, "旅行的意义"),
    ("train", "ID3_41_F_TY_001", 18, "比赛开始了"),
    ("test", "ID4_25_F_KJ_001", 9, "我们上课"),
    ("test", "ID4_25_F_KJ_002", 21, "他们上课"),
    ("test", "ID5_30_M_LY_001", 12, "今天学习"),
    ("test", "ID6_41_F_TY_001", 15, "改变生活"),
]


def amplitude(clip_id: str) -> float:
    """The amplitude of the tone in the clip's WAV file (a different one per clip)."""
    return 0.05 * (1 + [c[1] for c in RAW_CLIPS].index(clip_id))


@pytest.fixture(scope="module")
def av_sentences(tmp_path_factory, face_still) -> Path:
    """Raw Chinese-LiPS (face videos, 48 kHz WAV files, metadata) preprocessed with audio, as
    ``python preprocess.py dataset=chinese_lips ... roi.audio=true`` does."""
    raw, roi = tmp_path_factory.mktemp("Chinese-LiPS"), tmp_path_factory.mktemp("roi")
    rows = {"train": [], "test": []}
    for split, clip_id, frames, text in RAW_CLIPS:
        folder = raw / split / clip_id.rsplit("_", 1)[0]
        write_video(folder / "FACE" / f"{clip_id}_FACE.mp4", talking_head(face_still, frames).frames, fps=RAW_FPS)
        t = np.arange(round(frames / RAW_FPS * 48000)) / 48000
        write_wav(folder / "WAV" / f"{clip_id}.wav", amplitude(clip_id) * np.sin(2 * np.pi * 220 * t), rate=48000)
        rows[split].append(row(split, clip_id, text))
    write_meta(raw / "meta_train.csv", OFFICIAL, rows["train"])
    write_meta(raw / "meta_test.csv", OFFICIAL, rows["test"])
    listing = chinese_lips_listing(raw, splits=("train", "test"))
    summary = process_listing(listing, roi, PreprocessConfig(crop_size=48, audio=True))
    assert summary.count("processed") == len(RAW_CLIPS), summary.report()
    return roi


def test_preprocessing_stores_the_speaker_and_the_wav_audio(av_sentences):
    clip = load_clip(av_sentences / "test" / "ID4_25_F_KJ_002.npz")
    assert clip.speaker == "ID4" and clip.sample_rate == SAMPLE_RATE
    assert len(clip.audio) == clip.num_frames * 640
    middle = clip.audio[640:-640]
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(amplitude("ID4_25_F_KJ_002") / np.sqrt(2), rel=0.05)


def test_sentence_clips_with_audio_make_mixtures_of_variable_length(av_sentences):
    clips = datamodule(av_sentences, modality="av")
    separation = SeparationDataModule(clips, num_speakers=2, eval_batch_size=12, num_test_mixtures=12, seed=1)
    separation.setup("test")
    dataset = clips.datasets["test"]
    items = [dataset[i] for i in range(len(dataset))]
    assert {item["speaker"] for item in items} == {"ID4", "ID5", "ID6"}
    assert len({item["video"].shape[0] for item in items}) == 4  # four different lengths
    by_path = {item["path"]: item for item in items}
    (batch,) = list(separation.test_dataloader())
    frames = int(batch["lengths"].max())
    assert batch["mixture"].shape == (12, frames * 640) and batch["sources"].shape == (12, 2, frames * 640)
    assert batch["video"].shape[:2] == (12, frames) and len(set(batch["lengths"].tolist())) > 1
    for b, (path, speakers) in enumerate(zip(batch["path"], batch["speakers"])):
        target, samples = by_path[path], int(batch["lengths"][b]) * 640
        assert batch["lengths"][b] == target["video"].shape[0] and samples == len(target["audio"])
        torch.testing.assert_close(batch["sources"][b, 0, :samples], target["audio"])  # the target first
        torch.testing.assert_close(batch["mixture"][b], batch["sources"][b].sum(0))
        assert torch.equal(batch["video"][b, : batch["lengths"][b]], target["video"])
        assert batch["mixture"][b, samples:].abs().sum() == 0 and batch["video"][b, batch["lengths"][b]:].sum() == 0
        assert speakers[0] == target["speaker"] and speakers[1] != speakers[0]
        assert by_path[batch["interferers"][b][0]]["speaker"] == speakers[1]
    transformed = separation.on_after_batch_transfer(batch, 0)
    assert transformed["video"].shape == (12, 1, frames, 44, 44)


def test_sentence_batches_stay_video_only_when_the_items_carry_audio(av_sentences):
    with_audio = datamodule(av_sentences, modality="av", eval_batch_size=4)
    video_only = datamodule(av_sentences, eval_batch_size=4)
    for dm in (with_audio, video_only):
        dm.setup("test")
    assert "audio" in with_audio.datasets["test"][0] and "audio" not in video_only.datasets["test"][0]
    (batch,), (reference,) = list(with_audio.dataloader("test")), list(video_only.dataloader("test"))
    assert batch.keys() == reference.keys() and "audio" not in batch
    for key in ("video", "lengths", "tokens", "token_lengths"):
        assert torch.equal(batch[key], reference[key])


def test_sentence_clips_without_audio_are_an_error_at_set_up(tmp_path):
    write_layout(tmp_path, {split: [("a", 8, "我们上课"), ("b", 10, "他们上课")] for split in ("train", "test")})
    clips = datamodule(tmp_path, modality="av")
    with pytest.raises(ConfigError, match=rf"modality=av needs audio, but the clips of {tmp_path} have none "
                                          rf"\({tmp_path / 'test' / 'a.npz'}\).*roi.audio=true"):
        SeparationDataModule(clips).setup("test")
    with pytest.raises(ConfigError, match="set its modality to av"):
        SeparationDataModule(datamodule(tmp_path))
    with pytest.raises(ConfigError, match="modality='sound' is not one of video, audio, av"):
        datamodule(tmp_path, modality="sound")
    datamodule(tmp_path).setup("test")  # video only: no audio needed


def add_audio(path: Path, seconds: float | None, speaker: str) -> None:
    """Give the clip at ``path`` a tone of ``seconds`` (None: no audio) and its speaker."""
    clip = load_clip(path)
    audio = None if seconds is None else np.full(round(seconds * SAMPLE_RATE), 0.1, dtype=np.float32)
    save_clip(path, replace(clip, audio=audio, sample_rate=SAMPLE_RATE if audio is not None else None, speaker=speaker))


@pytest.mark.parametrize("policy", ["trim", "skip"])
def test_clips_without_audio_or_with_mismatched_audio_are_skipped_naming_the_file(tmp_path, caplog, policy):
    write_layout(tmp_path, {split: [("a", 10, "我们上课"), ("b", 10, "他们上课"), ("c", 10, "我们上课")]
                            for split in ("train", "test")})
    add_audio(tmp_path / "test" / "a.npz", 0.4, "ID1")  # 10 frames at 25 fps: in sync
    add_audio(tmp_path / "test" / "c.npz", 1.0, "ID2")  # 15 frames too long
    dm = datamodule(tmp_path, modality="av", audio_mismatch=policy)
    dm.setup("test")
    dataset = dm.datasets["test"]
    with caplog.at_level(logging.WARNING):
        a, b, c = (dataset[i] for i in range(3))
    assert a["speaker"] == "ID1" and a["audio"].shape == (6400,) and a["audio"].dtype == torch.float32
    assert b is None and f"{tmp_path / 'test' / 'b.npz'}: the clip has no audio" in caplog.text
    if policy == "trim":
        assert c["audio"].shape == (6400,) and c["speaker"] == "ID2"
    else:
        assert c is None and f"{tmp_path / 'test' / 'c.npz'}: its audio lasts 1.000 s" in caplog.text
    assert len(dataset.skipped.paths) == (1 if policy == "trim" else 2)
    with pytest.raises(ValueError, match="audio_mismatch='cut' is not a policy; valid: trim, skip"):
        datamodule(tmp_path, modality="av", audio_mismatch="cut").setup("test")


@pytest.mark.parametrize(("data", "clips_class"), [("lrw_separation", WordDataModule),
                                                   ("chinese_lips_separation", SentenceDataModule)])
def test_separation_configs_of_lrw_and_chinese_lips_compose_and_instantiate(compose_train, data, clips_class):
    cfg = compose_train("experiment=separation", f"data={data}")
    resolved = OmegaConf.to_container(cfg.data, resolve=True)
    assert resolved["clips"]["modality"] == "av" and resolved["num_speakers"] == 2
    assert resolved["clips"]["eval_transform"]["crop_size"] == resolved["clips"]["train_transform"]["crop_size"]
    separation = hydra.utils.instantiate(cfg.data)
    assert isinstance(separation, SeparationDataModule) and type(separation.clips) is clips_class
    assert separation.clips.modality == "av" and separation.clips.with_audio
    assert separation.train_transform is separation.clips.train_transform


def test_chinese_lips_recognition_stays_video_only(compose_train):
    cfg = compose_train("experiment=chinese_lips")
    assert cfg.data.modality == "video"
    assert hydra.utils.instantiate(cfg.data).with_audio is False
