"""Face models: the LiteRT backend against the legacy mp.solutions path, the tiles, quiet logs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from lipreading.preprocessing.backends import MODELS, LiteRTFaceModels, weighted_nms
from lipreading.preprocessing.config import PreprocessConfig
from lipreading.preprocessing.detect import tiles
from lipreading.preprocessing.landmarks import LIP_INDICES
from lipreading.preprocessing.quiet import native_stderr
from lipreading.preprocessing.track import FaceTracker
from lipreading.utils.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def astronaut_bgr() -> np.ndarray:
    from skimage.data import astronaut

    return cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)


def legacy_face_mesh(image_bgr: np.ndarray) -> np.ndarray:
    """Landmarks (468, 2) of MediaPipe's legacy face mesh in static mode, in pixels."""
    mp = pytest.importorskip("mediapipe")
    with native_stderr(), mp.solutions.face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1) as mesh:
        result = mesh.process(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB))
    points = [(p.x, p.y) for p in result.multi_face_landmarks[0].landmark]
    return np.array(points) * image_bgr.shape[1::-1]


@pytest.mark.parametrize("crop", [False, True], ids=["astronaut-512", "face-224"])
def test_litert_gives_the_legacy_mediapipe_landmarks_within_tolerance(crop):
    # Tolerance: mean distance within 1.5% of the face's width, every lip point within 3%.
    # (Measured: mean 1.1% / 0.8%, lips at most 1.4% / 1.2%; the rest is the two paths' different
    # face regions: the legacy mesh takes its region from its short-range detector.)
    image = astronaut_bgr()
    image = image[18:242, 113:337].copy() if crop else image
    reference = legacy_face_mesh(image)
    with LiteRTFaceModels() as models:
        tracker = FaceTracker(models, PreprocessConfig())
        tracker.step(0, image)
    ours = tracker.tracks[0].landmarks[0]
    width = np.ptp(reference[:, 0])
    distance = np.linalg.norm(ours - reference, axis=1) / width
    assert distance.mean() < 0.015 and distance[LIP_INDICES].max() < 0.03


def test_litert_detector_finds_the_legacy_detectors_face():
    mp = pytest.importorskip("mediapipe")
    from lipreading.preprocessing.backends import MediaPipeFaceModels

    image = cv2.cvtColor(astronaut_bgr(), cv2.COLOR_BGR2RGB)
    with LiteRTFaceModels() as ours, MediaPipeFaceModels() as legacy:
        a, b = ours.detect(image), legacy.detect(image)
    assert mp is not None and len(a) == len(b) == 1
    assert np.abs(a[0, :16] - b[0, :16]).max() < 4.0  # box and 6 keypoints, pixels of a 512 photo


def test_the_litert_backend_needs_no_mediapipe_and_its_models_ship_in_the_package():
    sizes = {p.name: p.stat().st_size for p in MODELS.glob("*.tflite")}
    assert sorted(sizes) == ["face_detection_full_range_sparse.tflite", "face_landmark.tflite"]
    assert sum(sizes.values()) < 2_000_000 and "Apache License" in (MODELS / "LICENSE").read_text()
    code = (
        "import sys; sys.modules['mediapipe'] = None\n"  # any import of mediapipe now fails
        "from skimage.data import astronaut\n"
        "from lipreading.preprocessing.backends import LiteRTFaceModels\n"
        "print(len(LiteRTFaceModels().detect(astronaut())))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "1", result.stderr


@pytest.mark.parametrize("size", [(640, 480), (1280, 720), (1920, 1080), (3840, 2160)])
def test_tiles_hold_every_face_from_60_px_whole_at_a_scale_the_detector_sees(size):
    width, height = size
    windows = tiles(width, height, 60)
    assert windows[0] == (0, 0, max(size))  # the whole frame first
    for face in (60, 100, 200, 400):  # the detector finds faces 16-180 px wide in its 192 px input
        for x in range(0, width - face + 1, 37):
            for y in range(0, height - face + 1, 41):
                assert any(
                    x0 <= x and y0 <= y and x + face <= x0 + s and y + face <= y0 + s
                    and 16 <= face * 192 / s <= 180
                    for x0, y0, s in windows
                ), (face, x, y)
    assert len(tiles(640, 480, 60)) == 1 and len(tiles(1280, 720, 60)) == 3


def test_weighted_nms_merges_overlapping_detections_by_score():
    rows = np.zeros((3, 17), np.float32)
    rows[0, :4], rows[0, 16] = (0, 0, 10, 10), 0.9
    rows[1, :4], rows[1, 16] = (2, 0, 12, 10), 0.3
    rows[2, :4], rows[2, 16] = (50, 50, 60, 60), 0.8
    merged = weighted_nms(rows)
    assert len(merged) == 2 and merged[0, 16] == pytest.approx(0.9)
    assert merged[0, 0] == pytest.approx(2 * 0.3 / 1.2) and np.array_equal(merged[1], rows[2])


def test_native_stderr_hides_native_lines_but_never_our_errors(capfd):
    with native_stderr():
        os.write(2, b"W0000 landmark_projection_calculator.cc:186] noise\n")
    assert "noise" not in capfd.readouterr().err
    with pytest.raises(RuntimeError, match="ours"), native_stderr():
        os.write(2, b"native reason\n")
        raise RuntimeError("ours")
    assert "native reason" in capfd.readouterr().err  # replayed: it may explain the error
    with native_stderr(show=True):
        os.write(2, b"asked for\n")
    assert "asked for" in capfd.readouterr().err
    print("after", file=sys.stderr)
    assert "after" in capfd.readouterr().err  # the descriptor is restored


def test_an_unknown_backend_or_face_rule_names_the_valid_ones():
    with pytest.raises(ConfigError, match=r"backend='onnx': use one of \['litert', 'mediapipe'\]"):
        PreprocessConfig(backend="onnx")
    with pytest.raises(ConfigError, match=r"face='left': use one of \['speaker', 'largest', 'centre'\]"):
        PreprocessConfig(face="left")


def test_the_legacy_backend_runs_the_same_pipeline(tmp_path, head):
    pytest.importorskip("mediapipe")
    from lipreading.preprocessing import preprocess_video
    from tests.helpers.face_video import write_video

    video = write_video(tmp_path / "head.mp4", head.frames[:3])
    _, report = preprocess_video(video, PreprocessConfig(backend="mediapipe"))
    assert report.backend == "mediapipe" and report.detection_rate == 1.0
    assert np.linalg.norm(report.mouth_centres - head.mouth_centres[:3], axis=1).max() < 3.0
    # Its C++ warnings stay out of the terminal too (checked through the command line).
    command = [sys.executable, str(REPO / "preprocess.py"), f"video={video}", f"output={tmp_path / 'roi.npz'}",
               "roi.backend=mediapipe", f"hydra.run.dir={tmp_path / 'run'}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "backend mediapipe" in result.stdout + result.stderr, result.stderr
    assert "W0000" not in result.stderr and "absl::" not in result.stderr
