"""A preprocess.py run killed while it writes a clip, run again, ends with the clips of an uninterrupted run."""

import subprocess
import sys
from pathlib import Path

import numpy as np

from lipreading.data.chinese_lips import chinese_lips_listing
from lipreading.data.clip import load_clip
from lipreading.preprocessing import PreprocessConfig, process_listing
from tests.helpers.face_video import write_video

REPO = Path(__file__).resolve().parents[2]
CLIPS = ["ID1_001", "ID1_002", "ID1_003", "ID1_004"]


def _raw_dataset(root, head):
    rows = ["ID,TOPIC,WAV,PPT,FACE,TEXT"]
    for i, clip in enumerate(CLIPS):
        write_video(root / "test" / "ID1" / "FACE" / f"{clip}_FACE.mp4", head.frames[i : i + 4])
        rows.append(f"{clip},KJ,,,test/ID1/FACE/{clip}_FACE.mp4,你好")
    (root / "meta_test.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def _outputs(out):
    clips = {p.relative_to(out).as_posix(): load_clip(p) for p in sorted(out.rglob("*.npz"))}
    return clips, (out / "test.csv").read_text(encoding="utf-8")


def test_a_killed_preprocess_run_rerun_finishes_with_the_same_clips_and_no_partial_file(tmp_path, head):
    raw = tmp_path / "Chinese-LiPS"
    _raw_dataset(raw, head)
    config = PreprocessConfig(crop_size=32)
    listing = chinese_lips_listing(raw, ("test",))
    process_listing(listing, tmp_path / "clean", config)

    out = tmp_path / "out"
    killed = subprocess.run(
        [sys.executable, str(REPO / "tests" / "helpers" / "kill_during_save.py"), "3", str(REPO / "preprocess.py"),
         "dataset=chinese_lips", f"input_dir={raw}", f"output_dir={out}", "dataset.splits=[test]", "roi.crop_size=32",
         f"hydra.run.dir={tmp_path / 'hydra'}"],
        capture_output=True, text=True, timeout=300,
    )
    assert killed.returncode == -9, killed.stderr[-2000:]
    partial, *written = sorted(p.name for p in (out / "test").iterdir())
    assert written == ["ID1_001.npz", "ID1_002.npz"], "no clip but the two whole ones is visible"
    assert partial.startswith(".ID1_003.npz.") and partial.endswith(".tmp"), "the third clip was cut short"
    assert not (out / "test.csv").exists()

    summary = process_listing(chinese_lips_listing(raw, ("test",)), out, config)  # the same command again
    assert sorted(r.status for r in summary.results) == ["existing", "existing", "processed", "processed"]
    assert sorted(p.name for p in (out / "test").iterdir()) == [f"{c}.npz" for c in CLIPS]  # no partial file left
    clips, manifest = _outputs(out)
    clean_clips, clean_manifest = _outputs(tmp_path / "clean")
    assert manifest == clean_manifest and clips.keys() == clean_clips.keys()
    for name, clip in clips.items():
        assert np.array_equal(clip.video, clean_clips[name].video), name
        assert clip.label == clean_clips[name].label and clip.fps == clean_clips[name].fps
