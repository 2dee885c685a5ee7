"""The CNVSRC baselines' prepared layout read as it is (data=cnvsrc) and the raw CN-CVS/CNVSRC downloads listed by
their label lists for preprocess.py (dataset=cncvs), on a few clips written in those formats."""

from __future__ import annotations

import csv
import logging

import pytest
from hydra.utils import instantiate

from lipreading.data.cncvs import cncvs_listing
from lipreading.data.clip import load_clip
from lipreading.data.sentences import ManifestError
from lipreading.preprocessing import LayoutError, process_listing
from tests.conftest import compose_config
from tests.data.test_auto_avsr_layout import write_mouth_video
from tests.helpers.cnvsrc import write_char_units
from tests.helpers.face_video import talking_head, write_video

TEXTS = {"train": [("我们今天在学校", 14), ("他上课唱歌", 11)], "valid": [("她学习唇语", 10)], "test": [("我们学习", 9)]}


def write_lists(folder, units, videos: dict[str, list[tuple[str, str, int]]]) -> None:
    """The baseline's {train,valid,test}.csv: `dataset,rel_path,frames,token_ids` rows."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in videos.items():
        lines = [f"cncvs,{rel},{frames},{' '.join(map(str, units.encode(text)))}" for rel, text, frames in rows]
        (folder / f"{split}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def prepared(tmp_path):
    """ROOT as the baseline's preparation leaves it: ROOT/cncvs/*.csv, ROOT/cncvs/speech/<spk>/video/*.mp4, char_units.txt."""
    root = tmp_path / "CNVSRC2024_lips"
    units = write_char_units(root)
    rows = {}
    for split, clips in TEXTS.items():
        rows[split] = []
        for i, (text, frames) in enumerate(clips):
            rel = f"speech/s0{split[:2]}{i}/video/s0{split[:2]}{i}_001_0000{i}.mp4"
            write_mouth_video(root / "cncvs" / rel, frames, seed=i)
            rows[split].append((rel, text, frames))
    rows["train"].append(("speech/s09999/video/gone.mp4", "我们", 10))  # listed, never prepared
    write_lists(root / "cncvs", units, rows)
    with (root / "cncvs" / "train.csv").open("a", encoding="utf-8") as f:
        f.write(f"cncvs,{rows['train'][0][0]},14,2 {len(units)}\n")  # an id beyond the units
    return root, units


def test_data_cnvsrc_reads_the_baselines_lists_and_videos_as_they_are(prepared, tmp_path, caplog):
    root, units = prepared
    cfg = compose_config("train", ["experiment=cnvsrc_conformer", f"data.root={root}", "data.num_workers=0", "data.batch_size=4"], tmp_path)
    dm = instantiate(cfg.data)
    with caplog.at_level(logging.WARNING):
        dm.setup("fit")
    assert "2 row(s) left out" in caplog.text and "gone.mp4 not found" in caplog.text
    assert "token ids outside" in caplog.text and "char_units.txt" in caplog.text  # the units hint names the baseline's file
    (batch,) = list(dm.train_dataloader())
    assert sorted(batch["text"]) == sorted(t for t, _ in TEXTS["train"]) and dm.tokenizer == units
    b = batch["text"].index("我们今天在学校")
    assert batch["tokens"][b, : batch["token_lengths"][b]].tolist() == units.encode("我们今天在学校")
    assert batch["video"].shape[2:] == (96, 96) and int(batch["lengths"][b]) == 14
    dm.setup("test")
    assert [u.text for u in dm.datasets["test"].utterances] == ["我们学习"]


def test_a_missing_list_or_a_malformed_row_is_named(prepared, tmp_path):
    root, units = prepared
    cfg = compose_config("train", ["experiment=cnvsrc_conformer", f"data.root={root}", "data.label_dir=cnvsrc-single"], tmp_path)
    with pytest.raises(FileNotFoundError, match=r"cnvsrc-single/train\.csv does not exist.*set data\.label_dir"):
        instantiate(cfg.data).setup("fit")
    (root / "cncvs" / "valid.csv").write_text("cncvs,speech/x.mp4,10\n", encoding="utf-8")
    cfg = compose_config("train", ["experiment=cnvsrc_conformer", f"data.root={root}"], tmp_path)
    with pytest.raises(ManifestError, match=r"^valid\.csv:1: expected 'dataset,rel_path,input_length,token_ids'"):
        instantiate(cfg.data).setup("validate")


def test_the_raw_download_is_listed_by_the_lists_and_cropped_by_the_pipeline(tmp_path, face_still):
    """dataset=cncvs: the clip of each list under ROOT/cncvs/..., its text decoded from the ids, through process_listing."""
    root, lists = tmp_path / "CNVSRC2024", tmp_path / "baseline" / "data" / "cncvs"
    units = write_char_units(tmp_path / "baseline" / "datamodule")
    write_video(root / "cncvs" / "speech/s00001/video/s00001_001_00001.mp4", talking_head(face_still, 20).frames)
    write_lists(lists, units, {"train": [("speech/s00001/video/s00001_001_00001.mp4", "我们上课", 20),
                                         ("speech/s00002/video/s00002_001_00001.mp4", "他唱歌", 12)],
                               "valid": [("speech/s00001/video/s00001_001_00001.mp4", "我们上课", 20)]})
    with (lists / "valid.csv").open("a", encoding="utf-8") as f:
        f.write("cncvs,speech/s00001/video/s00001_001_00001.mp4,20,2 1 3\n")  # <unk>: its text is unknown
    cfg = compose_config("preprocess", ["dataset=cncvs", f"input_dir={root}", f"dataset.lists={lists}",
                                        f"dataset.units_file={tmp_path / 'baseline/datamodule/char_units.txt'}",
                                        "dataset.splits=[train,val]"], tmp_path)
    listing = instantiate(cfg.dataset)
    assert [(i.output, i.label, i.split, i.speaker) for i in listing.items] == [
        ("train/cncvs_s00001_001_00001.npz", "我们上课", "train", "s00001"),
        ("val/cncvs_s00001_001_00001.npz", "我们上课", "val", "s00001")]
    assert len(listing.skipped) == 2 and "s00002_001_00001.mp4 not found" in listing.skipped[0] and "<unk>" in listing.skipped[1]
    out = tmp_path / "roi"
    summary = process_listing(listing, out)
    assert summary.count("processed") == 2, summary.report()
    clip = load_clip(out / "train" / "cncvs_s00001_001_00001.npz")
    assert clip.label == "我们上课" and clip.num_frames == 20 and clip.speaker == "s00001"
    rows = list(csv.DictReader((out / "train.csv").open(encoding="utf-8")))
    assert [(r["id"], r["text"]) for r in rows] == [("cncvs_s00001_001_00001", "我们上课")]
    with pytest.raises(LayoutError, match=r"test\.csv: label list missing.*set splits=\[train,val\]"):
        cncvs_listing(root, lists, tmp_path / "baseline/datamodule/char_units.txt", splits=("train", "test"))
