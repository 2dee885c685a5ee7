"""Write a video file with an audio track (PyAV), as a user's recording would be."""

from pathlib import Path

import numpy as np
import pytest


def write_mp4(path: Path, frames: np.ndarray, audio: np.ndarray | None, fps: int = 25, rate: int = 16000) -> Path:
    """``frames`` (T, H, W) gray or (T, H, W, 3) RGB uint8 as MPEG-4 video, ``audio`` (mono float) as AAC."""
    av = pytest.importorskip("av", reason="PyAV is the optional speech extra: pip install '.[speech]'")
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    with av.open(str(path), "w") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream = container.add_stream("aac", rate=rate, layout="mono") if audio is not None else None
        for frame in frames:
            container.mux(video.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(video.encode())
        if stream is not None:
            samples = np.asarray(audio, dtype=np.float32)
            for start in range(0, len(samples), 1024):
                chunk = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="fltp", layout="mono")
                chunk.sample_rate = rate
                container.mux(stream.encode(chunk))
            container.mux(stream.encode())
    return path
