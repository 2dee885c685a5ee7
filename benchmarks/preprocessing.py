"""Output frames per second of the preprocessing of one video, end to end, on one core.

    python -m benchmarks.preprocessing [--clips 4] [--frames 75] [--cpu 0]

Clips are talking-head videos made from scikit-image's astronaut (tests/helpers/face_video.py), her
face at its natural size (about 95 px wide, as in a talk or a webcam at arm's length) in 480p, 720p
and 1080p frames at 25 fps. The process is pinned to one CPU (``--cpu``; OpenCV and LiteRT on one
thread), so the figures are per core. Columns: the whole pipeline through ``process_listing`` (decode,
detect, track, mesh, choose, align, crop, write) per second of wall time and per second of the
process's CPU time (on a shared machine the wall time includes waiting for the core; the CPU time
does not), decoding alone (the floor, wall time), and how often the face detector ran.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from lipreading.preprocessing import Listing, PreprocessConfig, VideoItem, process_listing
from lipreading.preprocessing.mouth import preprocess_video
from lipreading.preprocessing.video import VideoReader
from tests.helpers.face_video import astronaut_face, background, place, talking_head, write_video

FORMATS = {"480p": (640, 480), "720p": (1280, 720), "1080p": (1920, 1080)}


def make_videos(folder: Path, clips: int, size: tuple[int, int], num_frames: int) -> list[Path]:
    """``clips`` videos of ``size`` (width, height) with the talking astronaut at natural size."""
    head = talking_head(astronaut_face(), num_frames)
    frames = np.stack([background(size)] * num_frames)
    place(frames, head, (size[0] // 2 - 112, size[1] // 2 - 112))
    return [write_video(folder / f"clip{i}.mp4", frames) for i in range(clips)]


def decode_rate(videos: list[Path], fps: float) -> float:
    """Output frames per second of decoding alone."""
    start, frames = time.perf_counter(), 0
    for path in videos:
        frames += sum(1 for _ in VideoReader(path, fps))
    return frames / (time.perf_counter() - start)


def main() -> None:
    """Print a markdown table of frames per second."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=4, help="videos per format")
    parser.add_argument("--frames", type=int, default=75, help="frames per video (25 fps)")
    parser.add_argument("--cpu", type=int, default=0, help="the CPU to pin the process to")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    cv2.setNumThreads(1)
    config = PreprocessConfig()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, size in FORMATS.items():
            videos = make_videos(Path(tmp) / name / "raw", args.clips, size, args.frames)
            preprocess_video(videos[0], config)  # loads the models once, as a long run would
            items = [VideoItem(video=v, output=f"train/{v.stem}.npz", label="x", split="train") for v in videos]
            cpu = time.process_time()
            summary = process_listing(Listing(items), Path(tmp) / name / "out", config, workers=1)
            cpu = time.process_time() - cpu
            frames = sum(r.num_frames for r in summary.results)
            decode = decode_rate(videos, config.fps)
            _, report = preprocess_video(videos[0], config)
            rows.append((name, summary.frames_per_second, frames / cpu, decode, report.detection_frames, report.num_frames))
    print(f"\n{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (pinned to CPU {args.cpu})\n")
    print("| input | whole pipeline, frames/s (wall) | whole pipeline, frames/CPU-s | decoding alone, frames/s | detector ran on |")
    print("|---|---:|---:|---:|---|")
    for name, wall, cpu, decode, detections, frames in rows:
        print(f"| {name} | {wall:.0f} | {cpu:.0f} | {decode:.0f} | {detections} of {frames} frames |")


if __name__ == "__main__":
    main()
