"""LRS2's and LRS3's raw layouts: file lists / folders, 'Text:' transcripts with word times, long pretrain
utterances cut at word boundaries; processed into the preprocessed sentence layout."""

from __future__ import annotations

import csv

import pytest

from lipreading.data.clip import load_clip
from lipreading.data.lrs2 import lrs2_listing
from lipreading.data.lrs3 import is_validation_talk, lrs3_listing
from lipreading.data.lrs_transcripts import SegmentItem, TimedWord, cut_at_words, read_transcript
from lipreading.preprocessing import LayoutError, process_listing
from tests.helpers.face_video import talking_head, write_video


def transcript(text: str, words: list[tuple[str, float, float]] | None = None, ref: bool = False) -> str:
    """An LRS2/LRS3 .txt: 'Text:' and 'Conf:' (and LRS3's 'Ref:'), then the word table when given."""
    lines = [f"Text:  {text}", "Conf:  4"] + (["Ref:   clip reference"] if ref else [])
    if words is not None:
        lines += ["", "WORD START END ASDSCORE"] + [f"{w} {s:.2f} {e:.2f} 3.1" for w, s, e in words]
    return "\n".join(lines) + "\n"


def clip(path, text: str, words=None, ref: bool = False, frames=None) -> None:
    """A clip: the .mp4 (a real talking head when ``frames`` is given, else an empty stand-in) and its .txt."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if frames is None:
        path.write_bytes(b"")
    else:
        write_video(path, frames)
    path.with_suffix(".txt").write_text(transcript(text, words, ref), encoding="utf-8")


LONG = [("SO", 0.1, 0.3), ("WE'RE", 0.3, 0.6), ("GOING", 0.7, 1.0), ("TO", 1.0, 1.1), ("TALK", 1.3, 1.7)]


@pytest.fixture
def lrs2_root(tmp_path):
    root = tmp_path / "LRS2"
    clips = root / "mvlrs_v1"
    clip(clips / "main/6001/00001.mp4", "WHEN YOU'RE IN THE GARDEN")
    clip(clips / "main/6001/00002.mp4", "THAT'S RIGHT")
    clip(clips / "main/6002/00003.mp4", "HELLO THERE")
    clip(clips / "pretrain/7001/00001.mp4", "SO WE'RE GOING TO TALK", LONG)
    (root / "train.txt").write_text("6001/00001\n6001/00002\n6001/00009\n")  # 00009: listed, not there
    (root / "val.txt").write_text("6002/00003\n")
    (root / "test.txt").write_text("6002/00003 NF\n")
    (root / "pretrain.txt").write_text("7001/00001\n")
    return root


def test_lrs2_listing_follows_the_file_lists(lrs2_root):
    listing = lrs2_listing(lrs2_root, max_seconds=1.0)
    assert [(i.output, i.label, i.split, i.speaker) for i in listing.items] == [
        ("train/6001_00001.npz", "WHEN YOU'RE IN THE GARDEN", "train", "6001"),
        ("train/6001_00002.npz", "THAT'S RIGHT", "train", "6001"),
        ("val/6002_00003.npz", "HELLO THERE", "val", "6002"),
        ("test/6002_00003.npz", "HELLO THERE", "test", "6002"),
        ("train/pretrain_7001_00001_00.npz", "SO WE'RE GOING TO", "train", "7001"),  # 0.1-1.1 s
        ("train/pretrain_7001_00001_01.npz", "TALK", "train", "7001"),
    ]
    assert len(listing.skipped) == 1 and "6001/00009" in listing.skipped[0] and "train.txt" in listing.skipped[0]
    whole = lrs2_listing(lrs2_root, splits=("train",), max_seconds=None)
    assert whole.items[-1].output == "train/pretrain_7001_00001.npz" and whole.items[-1].label == "SO WE'RE GOING TO TALK"
    assert [i.split for i in lrs2_listing(lrs2_root, splits=("test",)).items] == ["test"]
    assert len(lrs2_listing(lrs2_root, pretrain=False).items) == 4


def test_lrs2_without_its_file_lists_says_where_they_belong(tmp_path):
    (tmp_path / "mvlrs_v1" / "main").mkdir(parents=True)
    with pytest.raises(LayoutError, match="train.txt"):
        lrs2_listing(tmp_path)
    with pytest.raises(LayoutError, match="valid"):
        lrs2_listing(tmp_path, splits=("dev",))


@pytest.fixture
def lrs3_root(tmp_path):
    root = tmp_path / "LRS3"
    talks = [f"talk{i:02d}" for i in range(40)]
    for talk in talks:
        clip(root / "trainval" / talk / "50001.mp4", f"THIS IS {talk.upper()}", [("THIS", 0.1, 0.3)], ref=True)
    clip(root / "test" / "0Fi83BHQsMA" / "00002.mp4", "AND IT WORKED", [("AND", 0.1, 0.2)], ref=True)
    clip(root / "pretrain" / "talk00" / "00001.mp4", "SO WE'RE GOING TO TALK", LONG, ref=True)
    (root / "trainval" / "talk01" / "50002.txt").write_text("Conf: 3\n")  # no video: not listed
    return root


def test_lrs3_listing_holds_out_whole_talks_for_validation(lrs3_root):
    listing = lrs3_listing(lrs3_root, max_seconds=1.0, val_fraction=0.2)
    by_split = {split: [i for i in listing.items if i.split == split] for split in ("train", "val", "test")}
    val_talks = {i.speaker for i in by_split["val"]}
    assert val_talks == {f"talk{i:02d}" for i in range(40) if is_validation_talk(f"talk{i:02d}", 0.2)}
    assert 2 <= len(val_talks) <= 16 and not val_talks & {i.speaker for i in by_split["train"]}
    assert len(by_split["train"]) + len(by_split["val"]) == 40 + 2  # trainval + the pretrain clip's two pieces
    assert [(i.output, i.label) for i in by_split["test"]] == [("test/0Fi83BHQsMA_00002.npz", "AND IT WORKED")]
    pieces = [i for i in by_split["train"] if "pretrain" in i.output]
    assert [(i.label, i.start, i.end) for i in pieces] == [("SO WE'RE GOING TO", 0.1, 1.1), ("TALK", 1.3, 1.7)]
    assert not any("pretrain" in i.output for i in lrs3_listing(lrs3_root, pretrain=False).items)


def test_transcripts_and_cuts(tmp_path):
    txt = tmp_path / "00001.txt"
    txt.write_text(transcript("SO WE'RE GOING", LONG[:3], ref=True), encoding="utf-8")
    assert read_transcript(txt).text == "SO WE'RE GOING" and read_transcript(txt).words[1] == TimedWord("WE'RE", 0.3, 0.6)
    words = tuple(TimedWord(w, s, e) for w, s, e in LONG)
    assert [s.text for s in cut_at_words(words, 10.0)] == ["SO WE'RE GOING TO TALK"]
    assert [s.text for s in cut_at_words(words, 0.5)] == ["SO WE'RE", "GOING TO", "TALK"]
    assert [s.text for s in cut_at_words((TimedWord("LONG", 0.0, 2.0), TimedWord("WE", 2.1, 2.4)), 1.0)] == ["LONG", "WE"]
    txt.write_text("Conf: 4\n", encoding="utf-8")
    with pytest.raises(LayoutError, match="00001.txt.*Text:"):
        read_transcript(txt)
    txt.write_text(transcript("SO", [("SO", 0.1, 0.3)]).replace("0.30", "late"), encoding="utf-8")
    with pytest.raises(LayoutError, match="00001.txt:5"):
        read_transcript(txt)


def test_long_pretrain_clips_become_pieces_with_their_frames(tmp_path, face_still):
    """A 2 s pretrain clip cut at 1 s: the pieces' frames are the words' times (int(t * 25), as Auto-AVSR)."""
    root = tmp_path / "LRS3"
    clip(root / "pretrain" / "talk00" / "00001.mp4", "SO WE'RE GOING TO TALK", LONG, frames=talking_head(face_still, 50).frames)
    (root / "trainval").mkdir()
    listing = lrs3_listing(root, splits=("train",), max_seconds=1.0)
    assert len(listing.items) == 2 and all(isinstance(i, SegmentItem) for i in listing.items)
    out = tmp_path / "roi"
    summary = process_listing(listing, out)
    assert summary.count("processed") == 2, summary.report()
    first, second = (load_clip(out / "train" / f"pretrain_talk00_00001_{n:02d}.npz") for n in (0, 1))
    assert first.label == "SO WE'RE GOING TO" and first.num_frames == int(1.1 * 25) - int(0.1 * 25)
    assert second.label == "TALK" and second.num_frames == int(1.7 * 25) - int(1.3 * 25)
    assert first.landmarks.shape[0] == first.num_frames
    rows = list(csv.DictReader((out / "train.csv").open(encoding="utf-8")))
    assert [(r["id"], r["num_frames"], r["text"]) for r in rows] == [
        ("pretrain_talk00_00001_00", str(first.num_frames), "SO WE'RE GOING TO"),
        ("pretrain_talk00_00001_01", str(second.num_frames), "TALK"),
    ]
