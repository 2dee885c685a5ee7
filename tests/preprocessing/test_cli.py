"""The entry points: `python preprocess.py` (Hydra) and `python -m lipreading.preprocessing`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import hydra
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from lipreading.data.clip import load_clip
from lipreading.preprocessing import PreprocessConfig, register_configs
from lipreading.preprocessing.__main__ import main as module_main
from tests.helpers.face_video import write_video

REPO = Path(__file__).resolve().parents[2]
DATASETS = sorted(p.stem for p in (REPO / "conf" / "dataset").glob("*.yaml"))


def compose_preprocess(*overrides: str):
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return compose("preprocess", overrides=list(overrides))


@pytest.mark.parametrize("dataset", DATASETS)
def test_every_dataset_option_composes_to_a_reader(dataset, tmp_path):
    cfg = compose_preprocess(f"dataset={dataset}", f"input_dir={tmp_path}", "output_dir=out")
    assert cfg.dataset.root == str(tmp_path)
    assert callable(hydra.utils.get_method(cfg.dataset._target_))


def test_crop_settings_are_typed_overrides_of_the_dataclass():
    config = OmegaConf.to_object(compose_preprocess("roi.crop_size=88", "roi.grayscale=false").roi)
    assert config == PreprocessConfig(crop_size=88, grayscale=False)
    with pytest.raises(Exception, match="crop_size"):
        compose_preprocess("roi.crop_size=big")


def test_preprocess_py_turns_a_video_into_a_clip(tmp_path, head):
    video = write_video(tmp_path / "my video.mp4", head.frames[:6])
    output = tmp_path / "roi.npz"
    command = [
        sys.executable,
        str(REPO / "preprocess.py"),
        f"video={video}",
        f"output={output}",
        "roi.crop_size=64",
        f"hydra.run.dir={tmp_path / 'run'}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert load_clip(output).video.shape == (6, 64, 64)


def test_preprocess_py_without_a_source_explains_its_usage(tmp_path):
    command = [sys.executable, str(REPO / "preprocess.py"), f"hydra.run.dir={tmp_path}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert (
        result.returncode != 0 and "dataset=lrw|lrw1000|chinese_lips input_dir=RAW" in result.stderr
    )


def test_the_module_command_line_runs_a_dataset(tmp_path, head, capsys):
    root = tmp_path / "Chinese-LiPS"
    write_video(root / "test" / "ID1" / "FACE" / "ID1_001_FACE.mp4", head.frames[:5])
    (root / "meta_test.csv").write_text(
        "ID,TOPIC,WAV,PPT,FACE,TEXT\nID1_001,KJ,,,test/ID1/FACE/ID1_001_FACE.mp4,你好\n",
        encoding="utf-8",
    )
    module_main(
        [
            "chinese_lips",
            str(root),
            str(tmp_path / "out"),
            "--splits",
            "test",
            "--crop-size",
            "32",
            "--no-grayscale",
        ]
    )
    assert "processed 1" in capsys.readouterr().out
    assert load_clip(tmp_path / "out" / "test" / "ID1_001.npz").video.shape == (5, 32, 32, 3)
