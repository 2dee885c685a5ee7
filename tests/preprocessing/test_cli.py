"""The one preprocessing command line, `python preprocess.py` (Hydra): options, quiet logs, errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import hydra
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from lipreading.data.clip import load_clip
from lipreading.preprocessing import PreprocessConfig, register_configs
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


def run_preprocess(tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(REPO / "preprocess.py"), *overrides, f"hydra.run.dir={tmp_path / 'run'}"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_preprocess_py_turns_a_video_into_a_clip_a_report_and_a_preview_with_quiet_logs(tmp_path, head):
    video = write_video(tmp_path / "my video.mp4", head.frames[:6])
    output = tmp_path / "roi.npz"
    result = run_preprocess(tmp_path, f"video={video}", f"output={output}", "roi.crop_size=64", "preview=true")
    assert result.returncode == 0, result.stderr
    assert load_clip(output).video.shape == (6, 64, 64)
    preview = cv2.imread(str(tmp_path / "roi.preview.jpg"))
    assert preview is not None and preview.shape[0] == 224
    logs = result.stdout + result.stderr
    assert "person 0: seen in 6/6 frames" in logs and "detection rate 100%" in logs
    # MediaPipe's / LiteRT's own C++ lines stay out of the terminal unless asked for.
    assert "XNNPACK" not in logs and "W0000" not in logs and "absl::" not in logs
    shown = run_preprocess(tmp_path, f"video={video}", f"output={output}", "roi.native_logs=true")
    assert shown.returncode == 0 and "XNNPACK" in shown.stderr


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("roi.backend=onnx", "backend='onnx': use one of ['litert', 'mediapipe']"),
        ("roi.face=loudest", "face='loudest': use one of ['speaker', 'largest', 'centre']"),
    ],
)
def test_a_bad_face_option_is_one_line_naming_it_and_the_valid_ones(tmp_path, head, override, message):
    video = write_video(tmp_path / "v.mp4", head.frames[:3])
    result = run_preprocess(tmp_path, f"video={video}", f"output={tmp_path / 'roi.npz'}", override)
    assert result.returncode != 0 and message in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "roi.npz").exists()


def test_preprocess_py_without_a_source_explains_its_usage(tmp_path):
    command = [sys.executable, str(REPO / "preprocess.py"), f"hydra.run.dir={tmp_path}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert (
        result.returncode != 0 and "dataset=lrw|lrw1000|chinese_lips input_dir=RAW" in result.stderr
    )
