"""Frames per second of the preprocessing pipeline, whole and per stage, with one worker.

    python -m benchmarks.preprocessing [--clips 8]

Clips are talking-head videos made from scikit-image's astronaut (tests/helpers/face_video.py):
LRW-like (256x256, 25 fps, 29 frames) and Chinese-LiPS-like (1280x720, 30 fps, resampled to 25).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from lipreading.data.clip import Clip, save_clip
from lipreading.preprocessing import Listing, PreprocessConfig, VideoItem, process_listing
from lipreading.preprocessing.align import crop_mouth, mouth_transforms, smooth
from lipreading.preprocessing.landmarks import fill_missing, track_landmarks
from lipreading.preprocessing.video import VideoReader
from tests.helpers.face_video import astronaut_face, talking_head, write_video


@contextmanager
def stopwatch(seconds: dict[str, float], stage: str) -> Iterator[None]:
    """Add the wall time of the ``with`` block to ``seconds[stage]``."""
    start = time.perf_counter()
    yield
    seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start


def make_videos(
    folder: Path, clips: int, size: tuple[int, int], fps: float, num_frames: int
) -> list[Path]:
    """``clips`` talking-head videos of ``size`` (width, height), the face scaled to the height."""
    head = talking_head(astronaut_face(), num_frames)
    side = size[1] if size[1] < 256 else int(size[1] * 0.8)
    frames = np.stack([cv2.resize(f, (side, side)) for f in head.frames])
    canvas = np.full((num_frames, size[1], size[0], 3), 128, np.uint8)
    top, left = (size[1] - side) // 2, (size[0] - side) // 2
    canvas[:, top : top + side, left : left + side] = frames
    return [write_video(folder / f"clip{i}.mp4", canvas, fps) for i in range(clips)]


def stage_rates(videos: list[Path], config: PreprocessConfig, output: Path) -> dict[str, float]:
    """Output frames per second of each stage over ``videos``."""
    seconds: dict[str, float] = {}
    frames_out = 0
    for i, path in enumerate(videos):
        with stopwatch(seconds, "decode (one pass)"):
            frames = list(VideoReader(path, config.fps))
        with stopwatch(seconds, "landmarks (face mesh)"):
            tracked = track_landmarks(frames, config)
            landmarks = fill_missing(tracked, config.min_face_fraction, str(path))
        with stopwatch(seconds, "align (smooth + transforms)"):
            matrices = mouth_transforms(smooth(landmarks, config.smooth_window), config)
        with stopwatch(seconds, "crop"):
            crops = [crop_mouth(f, m, config) for f, m in zip(frames, matrices, strict=True)]
        with stopwatch(seconds, "write"):
            save_clip(output / f"stage{i}.npz", Clip(video=np.stack(crops)))
        frames_out += len(frames)
    return {stage: frames_out / s for stage, s in seconds.items()}


def main() -> None:
    """Print a markdown table of frames per second."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=8, help="videos per format")
    args = parser.parse_args()
    config = PreprocessConfig()
    formats = {
        "LRW-like 256x256 @25": ((256, 256), 25.0, 29),
        "720p @30 -> 25": ((1280, 720), 30.0, 36),
    }
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (size, fps, num_frames) in formats.items():
            folder = Path(tmp) / name.split()[0]
            videos = make_videos(folder / "raw", args.clips, size, fps, num_frames)
            rates = stage_rates(videos, config, folder / "stages")
            items = [
                VideoItem(video=v, output=f"train/{v.stem}.npz", label="x", split="train")
                for v in videos
            ]
            summary = process_listing(Listing(items), folder / "out", config, workers=1)
            rows[name] = {"whole pipeline (1 worker)": summary.frames_per_second, **rates}
    names = list(rows)
    print(f"\n| stage | {' | '.join(names)} |\n|---|{'---|' * len(names)}")
    for stage in rows[names[0]]:
        print(f"| {stage} | {' | '.join(f'{rows[n][stage]:.0f}' for n in names)} |")
    print("\nframes/s of output (25 fps) frames; the whole pipeline decodes each video twice.")


if __name__ == "__main__":
    main()
