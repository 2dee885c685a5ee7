"""Auto-AVSR's prepared layout read as it is: ROOT/labels/*.csv rows of token ids, ROOT/<dataset>/...mp4 + .wav."""

from __future__ import annotations

import logging
import struct

import cv2
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from lipreading.data.auto_avsr import AutoAVSRDataModule, read_label_list
from lipreading.data.sentences import ManifestError
from lipreading.data.tokenizer import SentencePieceUnits, pretrained_sentencepiece
from lipreading.data.transforms import EvalVideoTransform
from tests.data.test_tokenizer import ENGLISH, write_auto_avsr_units


def write_float_wav(path, samples: np.ndarray, rate: int = 16000) -> None:
    """32-bit float WAV, what torchaudio.save writes for Auto-AVSR's float tensors."""
    data = samples.astype("<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE"
                     + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)


def write_mouth_video(path, frames: int, seed: int) -> None:
    """96x96 colour mouth crops at 25 fps, as Auto-AVSR's preparation saves them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (96, 96))
    rng = np.random.default_rng(seed)
    for t in range(frames):
        writer.write(np.full((96, 96, 3), 40 + 5 * t, np.uint8) + rng.integers(0, 20, (96, 96, 3), dtype=np.uint8))
    writer.release()


@pytest.fixture
def prepared(tmp_path):
    """ROOT with Auto-AVSR's layout: three LRS3 clips, a units list, label lists (one bad row)."""
    root = tmp_path / "auto_avsr"
    trained = SentencePieceUnits.build(ENGLISH, vocab_size=60)
    spm = root / "spm" / "unigram"
    spm.mkdir(parents=True)
    (spm / "unigram60.model").write_bytes(trained.model)
    write_auto_avsr_units(spm / "unigram60_units.txt", trained.tokens[2:-1])
    units = SentencePieceUnits.from_files(spm / "unigram60.model", spm / "unigram60_units.txt")
    rows = {"train": [], "test": []}
    for i, (split, text, frames) in enumerate([("trainval", "they read a book in the garden", 20),
                                               ("trainval", "the dog runs in the park", 14),
                                               ("test", "don't stop the music now", 17)]):
        relative = f"lrs3_video_seg16s/{split}/talk{i}/5000{i}.mp4"
        write_mouth_video(root / "lrs3" / relative, frames, seed=i)
        write_float_wav((root / "lrs3" / relative).with_suffix(".wav"), np.sin(np.arange(frames * 640) / 9.0) * 0.3)
        ids = " ".join(map(str, units.encode(text)))
        rows["test" if split == "test" else "train"].append(f"lrs3,{relative},{frames},{ids}")
    rows["train"].append("lrs3,lrs3_video_seg16s/trainval/gone/1.mp4,10,5 6")  # video missing
    rows["train"].append(f"lrs3,lrs3_video_seg16s/trainval/talk0/50000.mp4,20,5 {len(units)}")  # an id beyond the units
    (root / "labels").mkdir()
    for split, lines in rows.items():
        (root / "labels" / f"lrs3_{split}_transcript_lengths_seg16s.csv").write_text("\n".join(lines) + "\n")
    return root, units


def datamodule(root, **kwargs):
    transform = EvalVideoTransform(88, 0.421, 0.165)
    lists = {"train": "lrs3_train_transcript_lengths_seg16s.csv", "val": "lrs3_test_transcript_lengths_seg16s.csv",
             "test": "lrs3_test_transcript_lengths_seg16s.csv"}
    units = OmegaConf.create({"model": str(root / "spm/unigram/unigram60.model"),
                              "units_file": str(root / "spm/unigram/unigram60_units.txt")})
    return AutoAVSRDataModule(str(root), transform, transform, lists,
                              units=lambda texts: pretrained_sentencepiece(texts, **units), batch_size=2, **kwargs)


def test_label_lists_give_the_ids_as_they_are_and_their_text(prepared, caplog):
    root, units = prepared
    dm = datamodule(root)
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
    assert "2 row(s) left out" in caplog.text and "not found" in caplog.text and "token ids outside" in caplog.text
    batches = list(dm.train_dataloader())
    assert sum(len(b["text"]) for b in batches) == 2
    batch = next(b for b in batches if "THEY READ A BOOK IN THE GARDEN" in b["text"])
    b = batch["text"].index("THEY READ A BOOK IN THE GARDEN")
    listed = (root / "labels/lrs3_train_transcript_lengths_seg16s.csv").read_text().splitlines()[0].split(",")[3]
    assert batch["tokens"][b, : batch["token_lengths"][b]].tolist() == [int(i) for i in listed.split()]
    assert batch["video"].shape[2:] == (96, 96) and batch["lengths"][b] == 20 and batch["video"].dtype == torch.uint8
    assert int(batch["video"][b, :20].float().mean()) in range(70, 130)  # gray levels of the written frames
    assert dm.tokenizer == units and len(dm.datasets["val"]) == 1


def test_audio_is_the_wav_beside_each_video(prepared):
    root, _ = prepared
    dm = datamodule(root, modality="av")
    dm.setup("test")
    item = dm.datasets["test"][0]
    assert item["audio"].shape == (17 * 640,) and abs(float(item["audio"][9]) - 0.3 * np.sin(1.0)) < 1e-6


def test_training_leaves_out_clips_longer_than_max_frames(prepared):
    root, _ = prepared
    dm = datamodule(root, max_frames=15)
    dm.setup("fit")
    assert [u.num_frames for u in dm.datasets["train"].utterances] == [14]


def test_a_row_that_is_no_label_list_row_names_its_line(prepared):
    root, units = prepared
    path = root / "labels" / "bad.csv"
    path.write_text("lrs3,x.mp4,10,5 6\nid,path,num_frames,text,extra\n")
    with pytest.raises(ManifestError, match="bad.csv:2"):
        read_label_list(root, path, units)
