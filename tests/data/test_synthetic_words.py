"""The synthetic word dataset: vocabulary, renderer, on-disk generation, and no static shortcut."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from lipreading.data.clip import load_clip
from lipreading.data.synthetic import (
    MOUTH_PARAMETERS,
    default_vocabulary,
    generate_word_dataset,
    homophene_groups,
    lrw_words,
    mouth_trajectory,
    render_timeline,
    viseme_string,
)
from lipreading.data.synthetic import __main__ as cli
from lipreading.data.synthetic import words as words_module
from lipreading.data.synthetic.visemes import PHONEME_TO_VISEME
from lipreading.data.synthetic.words import clip_rng, make_word_clip

SMALL = {"train": 2, "val": 1, "test": 1}
WORDS = ["ABOUT", "SYSTEM", "WOMEN"]


def _clips(root, words=WORDS, splits=SMALL):
    """{(split, word, index): Clip} of a generated dataset."""
    return {
        (split, word, i): load_clip(root / word / split / f"{word}_{i + 1:05d}.npz")
        for word in words
        for split, count in splits.items()
        for i in range(count)
    }


def _generate(root, **kwargs):
    params = {"words": WORDS, "clips_per_word": SMALL, "frame_size": 32, "seed": 3, "workers": 1}
    return generate_word_dataset(root, **{**params, "progress": False, **kwargs})


# --- vocabulary and homophenes ---------------------------------------------------------------


def test_lrw_words_are_the_500_sorted_labels():
    words = lrw_words()
    assert len(words) == len(set(words)) == 500
    assert list(words) == sorted(words)
    assert words[0] == "ABOUT" and words[-1] == "YOUNG"


def test_viseme_table_covers_arpabet():
    # Lee & Yook: 13 classes over the 39 ARPAbet phonemes, plus silence
    assert len(set(PHONEME_TO_VISEME.values())) == 14
    assert len(PHONEME_TO_VISEME) == 40
    assert viseme_string("BILLION") == viseme_string("MILLION") == ("P", "IY", "K", "AH", "K")


def test_homophene_groups_match_the_measured_counts():
    exact = homophene_groups(merge_repeats=False)
    merged = homophene_groups()
    assert (len(exact), sum(map(len, exact))) == (20, 42)
    assert (len(merged), sum(map(len, merged))) == (32, 69)
    assert ["BILLION", "MILLION"] in exact
    assert ["MONTH", "MONTHS"] in merged and ["MONTH", "MONTHS"] not in exact
    assert homophene_groups(["about", "billion", "million"]) == [["BILLION", "MILLION"]]


def test_default_vocabulary_is_deterministic_diverse_and_homophene_free():
    vocabulary = default_vocabulary(50)
    assert vocabulary == default_vocabulary(50)
    assert default_vocabulary(20) == vocabulary[:20]
    assert vocabulary[:20] != sorted(vocabulary[:20])  # not the first alphabetical words
    assert len({word[0] for word in vocabulary[:20]}) >= 8
    homophenes = {word for group in homophene_groups() for word in group}
    assert not homophenes & set(default_vocabulary(431))
    assert homophene_groups(default_vocabulary(431)) == []


@pytest.mark.parametrize("num_words", [0, 432, 500])
def test_default_vocabulary_rejects_impossible_sizes(num_words):
    with pytest.raises(ValueError, match=f"num_words={num_words}.*431"):
        default_vocabulary(num_words)


# --- the renderer ----------------------------------------------------------------------------


def test_trajectory_follows_the_timeline():
    # "papa": lips closed on P, wide open on AA
    timeline = [("SIL", 0.0, 0.2), ("P", 0.2, 0.3), ("AA1", 0.3, 0.5), ("P", 0.5, 0.6), ("AA0", 0.6, 0.8)]
    trajectory = mouth_trajectory(timeline, num_frames=25, fps=25.0)
    assert trajectory.shape == (25, len(MOUTH_PARAMETERS))
    opening = trajectory[:, MOUTH_PARAMETERS.index("opening")]
    assert opening[10] > 0.6 and opening[17] > 0.6  # AA centres (0.4 s, 0.7 s)
    assert opening[13] < 0.15  # the P between them closes the lips (0.55 s)
    assert opening[2] < 0.1 and opening[-1] < 0.1  # silence before, nothing after
    assert np.abs(np.diff(opening)).max() < 0.5  # smooth: no frame jumps the whole 0 -> 0.85


def test_render_timeline_draws_a_moving_mouth():
    timeline = [("M", -0.1, 0.1), ("AA1", 0.1, 0.35), ("P", 0.35, 0.45), ("IY1", 0.45, 0.7)]
    video = render_timeline(timeline, np.random.default_rng(0), num_frames=20, fps=25.0, frame_size=40)
    assert video.shape == (20, 40, 40) and video.dtype == np.uint8
    assert np.abs(np.diff(video.astype(np.int16), axis=0)).mean(axis=(1, 2)).max() > 3
    again = render_timeline(timeline, np.random.default_rng(0), num_frames=20, fps=25.0, frame_size=40)
    np.testing.assert_array_equal(video, again)


def test_render_timeline_names_a_bad_phoneme():
    with pytest.raises(ValueError, match="'XX'"):
        render_timeline([("XX", 0.0, 0.1)], np.random.default_rng(0), frame_size=32)


def test_word_clip_is_lrw_shaped_with_the_word_in_the_middle():
    for index in range(20):
        clip = make_word_clip("ABSOLUTELY", clip_rng(0, "train", "ABSOLUTELY", index), frame_size=32)
        assert clip.video.shape == (29, 32, 32) and clip.fps == 25.0
        assert clip.label == "ABSOLUTELY" and clip.speaker.startswith("synth")
        assert 0.0 <= clip.word_start < clip.word_end <= clip.duration
        assert abs((clip.word_start + clip.word_end) / 2 - clip.duration / 2) < 0.1
        assert 0.2 < clip.word_end - clip.word_start < 1.0
        # the stored timeline covers the clip and holds the word's phonemes at its boundaries
        assert clip.phonemes[0][1] == 0.0 and clip.phonemes[-1][2] == pytest.approx(clip.duration)
        inside = [name for name, start, end in clip.phonemes
                  if start >= clip.word_start - 1e-9 and end <= clip.word_end + 1e-9]
        assert inside == ["AE2", "B", "S", "AH0", "L", "UW1", "T", "L", "IY0"]


# --- generation on disk ----------------------------------------------------------------------


def test_generate_writes_the_lrw_layout_and_meta(tmp_path):
    root = _generate(tmp_path / "synth")
    assert sorted(p.name for p in root.iterdir()) == sorted([*WORDS, "meta.json"])
    assert sorted(p.name for p in (root / "ABOUT" / "train").iterdir()) == [
        "ABOUT_00001.npz",
        "ABOUT_00002.npz",
    ]
    meta = json.loads((root / "meta.json").read_text())
    assert meta["words"] == WORDS and meta["clips_per_word"] == SMALL
    assert (meta["frame_size"], meta["num_frames"], meta["fps"], meta["seed"]) == (32, 29, 25.0, 3)
    clip = load_clip(root / "WOMEN" / "test" / "WOMEN_00001.npz")
    assert clip.label == "WOMEN" and clip.video.shape == (29, 32, 32)
    assert clip.phonemes and 0.0 < clip.word_start < clip.word_end < clip.duration


def test_generation_is_deterministic_and_independent_of_workers(tmp_path):
    one = _clips(_generate(tmp_path / "a", workers=1))
    two = _clips(_generate(tmp_path / "b", workers=2))
    other_seed = _clips(_generate(tmp_path / "c", seed=4))
    for key, clip in one.items():
        assert clip.video.tobytes() == two[key].video.tobytes(), key
        assert (clip.phonemes, clip.speaker, clip.word_start) == (
            two[key].phonemes, two[key].speaker, two[key].word_start)
        assert clip.video.tobytes() != other_seed[key].video.tobytes(), key
    # a clip depends on (seed, split, word, index) only, not on the rest of the vocabulary
    alone = _clips(_generate(tmp_path / "d", words=["WOMEN"]), words=["WOMEN"])
    for key, clip in alone.items():
        assert clip.video.tobytes() == one[key].video.tobytes(), key


def test_a_finished_dataset_is_returned_without_rendering(tmp_path, monkeypatch):
    root = _generate(tmp_path / "synth")
    monkeypatch.setattr(words_module, "_render_task", lambda task: pytest.fail(f"rendered {task}"))
    assert _generate(root) == root


def test_an_interrupted_generation_resumes(tmp_path, monkeypatch):
    root = tmp_path / "synth"
    render, calls = words_module._render_task, []

    def crash_after_five(task):
        if len(calls) == 5:
            raise KeyboardInterrupt
        calls.append(task)
        render(task)

    monkeypatch.setattr(words_module, "_render_task", crash_after_five)
    with pytest.raises(KeyboardInterrupt):
        _generate(root)
    assert not (root / "meta.json").exists()
    done = sorted(root.glob("*/*/*.npz"))
    assert len(done) == 5
    stamps = {path: path.stat().st_mtime_ns for path in done}
    done[0].write_bytes(b"not a zip")  # a damaged clip is rendered again

    calls.clear()
    monkeypatch.setattr(words_module, "_render_task", lambda task: (calls.append(task), render(task)))
    _generate(root)
    assert len(calls) == 12 - 5 + 1
    assert (root / "meta.json").exists() and not (root / "meta.partial.json").exists()
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in stamps.items() if path != done[0])
    fresh = _clips(_generate(tmp_path / "fresh"))
    for key, clip in _clips(root).items():
        assert clip.video.tobytes() == fresh[key].video.tobytes(), key


def test_other_parameters_in_the_same_root_raise(tmp_path):
    root = _generate(tmp_path / "synth")
    with pytest.raises(ValueError, match=r"differing: seed.*pick another root or delete"):
        _generate(root, seed=5)
    with pytest.raises(ValueError, match="differing: clips_per_word, words"):
        _generate(root, words=["ABOUT"], clips_per_word={"train": 1})


def test_an_interrupted_run_cannot_be_resumed_with_other_parameters(tmp_path, monkeypatch):
    root = tmp_path / "synth"
    monkeypatch.setattr(words_module, "_render_task", lambda task: (_ for _ in ()).throw(KeyboardInterrupt))
    with pytest.raises(KeyboardInterrupt):
        _generate(root)
    with pytest.raises(ValueError, match="differing: frame_size"):
        _generate(root, frame_size=48)


def test_a_foreign_non_empty_root_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        _generate(tmp_path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"words": ["ABOUT", "XYZZYQ"]}, "'XYZZYQ' is not in the CMU"),
        ({"words": ["ABOUT", "about"]}, r"repeats \['ABOUT'\]"),
        ({"words": []}, "words is empty"),
        ({"clips_per_word": {"dev": 1}}, "unknown split 'dev'"),
        ({"clips_per_word": {"train": -1}}, r"clips_per_word\['train'\]=-1"),
    ],
)
def test_bad_arguments_are_named(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _generate(tmp_path / "synth", **kwargs)


def test_homophenes_in_the_vocabulary_warn(tmp_path):
    with pytest.warns(UserWarning, match="BILLION"):
        _generate(tmp_path / "synth", words=["BILLION", "MILLION"], clips_per_word={"test": 1})


# --- no static shortcut: the word shows only in the motion -----------------------------------


def _opening_area(video: np.ndarray) -> np.ndarray:
    """Per frame, the fraction of pixels as dark as the inside of the mouth (T,)."""
    video = video.astype(np.float32)
    return (video < np.percentile(video, 5) + 12).mean(axis=(1, 2))


def _probe_accuracy(features: dict[str, np.ndarray], labels: dict[str, np.ndarray], classes: int) -> float:
    """Test accuracy of a logistic regression (standardised features, full-batch Adam)."""
    torch.manual_seed(0)
    mean, std = features["train"].mean(0), features["train"].std(0) + 1e-6
    x, x_test = (torch.tensor((features[s] - mean) / std, dtype=torch.float32) for s in ("train", "test"))
    y, y_test = torch.tensor(labels["train"]), torch.tensor(labels["test"])
    model = torch.nn.Linear(x.shape[1], classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only contend on a shared machine
    try:
        for _ in range(150):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    return (model(x_test).argmax(1) == y_test).float().mean().item()


def test_the_word_is_in_the_motion_not_in_any_single_image():
    vocabulary = default_vocabulary(10)
    counts = {"train": 40, "test": 20}
    clips = {
        split: [(make_word_clip(word, clip_rng(0, split, word, i), frame_size=48), k)
                for k, word in enumerate(vocabulary) for i in range(count)]
        for split, count in counts.items()
    }
    labels = {split: np.array([k for _, k in pairs]) for split, pairs in clips.items()}
    extractors = {
        "first frame": lambda video: video[0].ravel() / 255.0,
        "mean image": lambda video: video.mean(axis=0).ravel() / 255.0,
        "opening area over time": _opening_area,
    }
    chance = 1 / len(vocabulary)
    accuracy = {
        name: _probe_accuracy(
            {split: np.stack([extract(clip.video) for clip, _ in pairs]) for split, pairs in clips.items()},
            labels,
            len(vocabulary),
        )
        for name, extract in extractors.items()
    }
    assert accuracy["first frame"] < 2 * chance, accuracy
    assert accuracy["mean image"] < 3 * chance, accuracy  # a weak, legitimate cue (~1.5x)
    assert accuracy["opening area over time"] > 3 * chance, accuracy  # the probe can succeed


# --- command line ----------------------------------------------------------------------------


def test_cli_prints_homophenes(capsys):
    cli.main(["--homophenes"])
    out = capsys.readouterr().out
    assert "20 groups, 42 words" in out and "32 groups, 69 words" in out
    assert "BILLION, MILLION" in out


def test_cli_writes_a_preview_and_a_gif(tmp_path):
    png, gif = tmp_path / "preview.png", tmp_path / "preview.gif"
    cli.main(["--preview", str(png), "--gif", str(gif), "--clips", "2", "--frame-size", "32"])
    montage = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    assert montage.shape[0] >= 2 * 32 and montage.shape[1] >= 29 * 32
    with Image.open(gif) as image:
        assert image.n_frames == 29 and image.size == (2 * 32, 32)


def test_cli_without_an_action_fails():
    with pytest.raises(SystemExit):
        cli.main([])
