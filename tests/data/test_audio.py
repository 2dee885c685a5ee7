"""Audio decoding, resampling and audio/video alignment (data/audio.py)."""

import wave
from pathlib import Path

import numpy as np
import pytest

from lipreading.data.audio import AudioError, align_audio, read_audio_track, read_wav, resample, samples_per_frame
from tests.helpers.av_video import write_mp4


def test_resample_keeps_a_tone_and_removes_what_is_above_the_new_nyquist():
    t = np.arange(22050) / 22050
    audio = np.sin(2 * np.pi * 440 * t) + np.sin(2 * np.pi * 9500 * t)  # 9.5 kHz > 8 kHz
    out = resample(audio, 22050, 16000)
    assert len(out) == 16000
    expected = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.abs(out[200:-200] - expected[200:-200]).max() < 1e-3


def test_samples_per_frame():
    assert samples_per_frame(25.0) == 640
    with pytest.raises(ValueError, match="whole number"):
        samples_per_frame(30.0, 16000)


def test_align_audio_trims_within_a_frame_and_reports_longer_mismatches():
    assert align_audio(np.ones(29 * 640 + 300), 16000, 29, 25.0, "x.mp4", "skip").shape == (29 * 640,)
    assert align_audio(np.ones(29 * 640 - 300), 16000, 29, 25.0, "x.mp4", "skip")[-1] == 0.0
    with pytest.raises(AudioError, match=r"x\.mp4: its audio lasts 1\.000 s but its video 29 frames"):
        align_audio(np.ones(16000), 16000, 29, 25.0, "x.mp4", "skip")
    trimmed = align_audio(np.ones(32000), 16000, 29, 25.0, "x.mp4", "trim")
    assert trimmed.shape == (29 * 640,) and trimmed.min() == 1.0


def test_read_wav_mixes_to_mono_and_reports_missing_files(tmp_path: Path):
    path = tmp_path / "a.wav"
    stereo = (np.stack([np.full(4800, 0.5), np.full(4800, -0.25)], 1) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as f:
        f.setnchannels(2), f.setsampwidth(2), f.setframerate(48000)
        f.writeframes(stereo.tobytes())
    audio, rate = read_wav(path)
    assert rate == 48000 and audio.shape == (4800,) and abs(audio.mean() - 0.125) < 1e-3
    with pytest.raises(AudioError, match="not found"):
        read_wav(tmp_path / "missing.wav")


def _write_mp4(path: Path, with_audio: bool) -> None:
    frames = np.stack([np.full((32, 32, 3), i * 8, np.uint8) for i in range(25)])
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    write_mp4(path, frames, tone if with_audio else None)


def test_read_audio_track_decodes_the_mp4_audio_and_names_a_file_without_one(tmp_path: Path):
    with_audio, silent = tmp_path / "speech.mp4", tmp_path / "silent.mp4"
    _write_mp4(with_audio, True)
    _write_mp4(silent, False)
    audio, rate = read_audio_track(with_audio)
    assert rate == 16000 and abs(len(audio) - 16000) < 2048
    assert 0.15 < np.abs(audio[2000:14000]).max() < 0.45
    with pytest.raises(AudioError, match=r"silent\.mp4: the file has no audio track"):
        read_audio_track(silent)
