"""Audio for the clips: 16 kHz mono, aligned to the 25 fps video (640 samples per frame).

Decoding: LRW's audio is the AAC track of its mp4 files (PyAV, which ships its own FFmpeg),
Chinese-LiPS' the WAV files beside its videos (the standard library's ``wave``). Both are mixed
to mono and resampled here to :data:`SAMPLE_RATE`; :func:`align_audio` then checks the audio
against the video's length and trims or rejects it.
"""

from __future__ import annotations

import functools
import math
import os
import wave
from pathlib import Path

import numpy as np

from lipreading.data.clip import Clip
from lipreading.utils.errors import UserError

SAMPLE_RATE = 16000
"""The sample rate of every clip's audio (LRW's; 640 samples per frame at 25 fps)."""
AUDIO_MISMATCH_POLICIES = ("trim", "skip")
AUDIO_FIELDS = frozenset({"audio", "sample_rate", "speaker"})
"""What a dataset with audio reads besides the training fields (the speaker picks a mixture's interferers)."""


class AudioError(UserError):
    """Audio that is missing, unreadable or does not match its video; the message names the file."""


def samples_per_frame(fps: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Audio samples per video frame (640 at 25 fps and 16 kHz); the rates must divide evenly."""
    samples = sample_rate / fps
    if abs(samples - round(samples)) > 1e-6:
        raise ValueError(f"{sample_rate} Hz audio is not a whole number of samples per frame at {fps} fps")
    return round(samples)


def resample(audio: np.ndarray, rate_in: int, rate_out: int, taps: int = 32) -> np.ndarray:
    """Band-limited resampling of mono ``audio`` (windowed sinc, Hann window, ``taps`` per side)."""
    audio = np.asarray(audio, dtype=np.float32)
    if rate_in == rate_out or len(audio) == 0:
        return audio.copy()
    step = math.gcd(rate_in, rate_out)
    up, down = rate_out // step, rate_in // step
    weights, width = _sinc_filter(up, down, taps)  # (up, 2W): one filter per output phase
    length = int(round(len(audio) * up / down))
    outputs = np.arange(length)
    first = (outputs * down) // up - width + 1  # first input sample of each output's filter
    index = first[:, None] + np.arange(2 * width)[None, :] + width  # (N_out, 2W) into `padded`
    padded = np.concatenate([np.zeros(width, np.float32), audio, np.zeros(2 * width, np.float32)])
    out = np.empty(length, dtype=np.float32)
    for lo in range(0, length, 8192):  # in blocks: bounded memory for long recordings
        hi = min(lo + 8192, length)
        out[lo:hi] = np.einsum("nk,nk->n", padded[index[lo:hi]], weights[outputs[lo:hi] % up])
    return out


@functools.lru_cache(maxsize=16)
def _sinc_filter(up: int, down: int, taps: int) -> tuple[np.ndarray, int]:
    """The resampling filter of each of the ``up`` output phases, (up, 2W) float32, and W."""
    cutoff = min(1.0, up / down)  # low-pass below the lower Nyquist frequency
    width = int(np.ceil(taps / cutoff))
    phases = np.arange(up)
    centres = phases * down / up  # output times in input samples
    first = (phases * down) // up - width + 1
    offset = (first[:, None] + np.arange(2 * width)[None, :] - centres[:, None]) * cutoff
    window = 0.5 + 0.5 * np.cos(np.pi * np.clip(offset / taps, -1.0, 1.0))
    return (cutoff * np.sinc(offset) * window).astype(np.float32), width


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Mono float32 samples in [-1, 1] and the sample rate of a PCM WAV file."""
    path = Path(path)
    try:
        with wave.open(str(path), "rb") as f:
            channels, width, rate = f.getnchannels(), f.getsampwidth(), f.getframerate()
            raw = f.readframes(f.getnframes())
    except FileNotFoundError as e:
        raise AudioError(f"{path}: audio file not found") from e
    except (wave.Error, EOFError, OSError) as e:
        raise AudioError(f"{path}: unreadable WAV file ({e})") from e
    if width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128) / 128
    elif width in (2, 4):
        dtype = np.int16 if width == 2 else np.int32
        samples = np.frombuffer(raw, dtype).astype(np.float32) / float(np.iinfo(dtype).max + 1)
    else:
        raise AudioError(f"{path}: {8 * width}-bit WAV is not supported (use 8, 16 or 32-bit PCM)")
    return samples.reshape(-1, channels).mean(axis=1), rate


def read_audio_track(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Mono float32 samples and the sample rate of the first audio track of a video file (PyAV).

    Raises :class:`AudioError` naming the file when it has no audio track.
    """
    try:
        import av
    except ImportError as e:
        raise AudioError(f"decoding the audio of {path} needs PyAV: pip install '.[speech]' (or pip install av)") from e
    path = Path(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(f"{path}: the file has no audio track (data.audio_mismatch=skip leaves such clips out)")
            stream = container.streams.audio[0]
            chunks = [frame.to_ndarray().astype(np.float32).reshape(-1, frame.samples) for frame in container.decode(stream)]
            rate = stream.codec_context.sample_rate or stream.rate
    except AudioError:
        raise
    except (av.error.FFmpegError, OSError) as e:  # type: ignore[attr-defined]
        raise AudioError(f"{path}: cannot decode its audio ({e})") from e
    if not chunks:
        raise AudioError(f"{path}: the audio track holds no samples")
    # Planar (channels, samples) frames; packed int formats arrive as (1, samples * channels).
    channels = max(1, chunks[0].shape[0])
    samples = np.concatenate(chunks, axis=1).mean(axis=0) if channels > 1 else np.concatenate(chunks, axis=1)[0]
    if np.issubdtype(chunks[0].dtype, np.integer) or np.abs(samples).max(initial=0) > 1.5:
        samples = samples / 32768.0
    return samples.astype(np.float32), int(rate)


def align_audio(
    audio: np.ndarray, rate: int, num_frames: int, fps: float, source: str, policy: str = "trim"
) -> np.ndarray:
    """``audio`` at :data:`SAMPLE_RATE`, exactly ``num_frames`` frames long.

    Audio within one frame of the video's length is trimmed or zero-padded to it. A longer
    disagreement is an :class:`AudioError` naming ``source`` with ``policy="skip"``; with
    ``policy="trim"`` the audio is cut (or padded) to the video and the clip kept.
    """
    check_mismatch_policy(policy)
    audio = resample(audio, rate, SAMPLE_RATE)
    per_frame = samples_per_frame(fps)
    wanted = num_frames * per_frame
    if abs(len(audio) - wanted) > per_frame and policy == "skip":
        raise AudioError(
            f"{source}: its audio lasts {len(audio) / SAMPLE_RATE:.3f} s but its video {num_frames} frames "
            f"({num_frames / fps:.3f} s), more than a frame apart; skipped (audio_mismatch=trim keeps it, cut to the video)"
        )
    out = np.zeros(wanted, dtype=np.float32)
    out[: min(wanted, len(audio))] = audio[:wanted]
    return out


def check_mismatch_policy(policy: str) -> None:
    """Raise a ValueError naming ``policy`` unless it is one of :data:`AUDIO_MISMATCH_POLICIES`."""
    if policy not in AUDIO_MISMATCH_POLICIES:
        raise ValueError(f"audio_mismatch={policy!r} is not a policy; valid: {', '.join(AUDIO_MISMATCH_POLICIES)}")


def clip_audio(clip: Clip, source: str | os.PathLike, policy: str = "trim") -> np.ndarray:
    """The audio of ``clip`` aligned to its video (:func:`align_audio`); an :class:`AudioError` naming
    ``source`` when the clip has none."""
    if clip.audio is None or clip.sample_rate is None:
        raise AudioError(f"{source}: the clip has no audio (modality audio/av needs clips with audio)")
    return align_audio(clip.audio, clip.sample_rate, clip.num_frames, clip.fps, str(source), policy)


def write_wav(path: str | os.PathLike, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    """Write mono float ``samples`` (clipped to [-1, 1]) as a 16-bit PCM WAV file; return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0) * 32767).round().astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(pcm.tobytes())
    return path
