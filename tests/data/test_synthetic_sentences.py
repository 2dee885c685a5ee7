import csv
import itertools
import json

import numpy as np
import pytest

from lipreading.data.clip import load_clip
from lipreading.data.synthetic.mandarin import (
    GRAMMARS, MANDARIN, ambiguity_ceiling, grammar_by_name, phrase_syllables, viseme_string,
)
from lipreading.data.synthetic import english
from lipreading.data.synthetic.sentences import (
    Grammar, characters, generate_sentence_dataset, make_sentence_clip, split_sentences,
)
from lipreading.data.synthetic.visemes import viseme_of


def test_medium_grammar_size_and_held_out_sentence_types():
    grammar = GRAMMARS["medium"]
    splits = split_sentences(grammar)
    assert len(grammar.sentences()) == 41520 and len(grammar.characters()) == 117
    assert not set(splits["test"]) & set(splits["train"]) and not set(splits["val"]) & set(splits["train"])
    assert 0.09 < len(splits["test"]) / len(grammar.sentences()) < 0.11


def test_pinyin_maps_to_visemes_and_homophenes_collide():
    assert phrase_syllables("我们") == (("我", ("W", "W", "AO")), ("们", ("M", "AH", "N")))
    grammar = GRAMMARS["tiny"]
    assert viseme_string(grammar, "他今天上课") == viseme_string(grammar, "她今天上课")  # tā = tā
    assert viseme_string(grammar, "他今天上课") == viseme_string(grammar, "他今天唱歌")  # shàngkè / chànggē
    assert viseme_string(grammar, "他今天看书") != viseme_string(grammar, "他今天吃饭")


def test_ambiguity_ceiling_on_a_hand_case():
    # 他/她 look the same; 我 does not. Reading 他X or 她X, the best reader guesses one of the two
    # (one wrong character half the time): expected edits 0.5 per 2-character sentence.
    grammar = Grammar(slots={"S": ("他", "她", "我"), "V": ("吃",)}, templates=(("S", "V"),))
    assert ambiguity_ceiling(grammar, ["他吃", "她吃", "我吃"]) == pytest.approx((0.5 + 0.5 + 0) / 6)
    medium = GRAMMARS["medium"]
    assert ambiguity_ceiling(medium, split_sentences(medium)["test"]) == pytest.approx(0.0164, abs=0.001)


def test_clips_are_deterministic_and_carry_their_timeline():
    grammar = grammar_by_name("tiny")
    a = make_sentence_clip(MANDARIN, grammar, "我今天上课", np.random.default_rng(3), frame_size=32)
    b = make_sentence_clip(MANDARIN, grammar, "我今天上课", np.random.default_rng(3), frame_size=32)
    assert np.array_equal(a.video, b.video) and a.video.dtype == np.uint8
    assert a.label == "我今天上课" and a.phonemes[0][0] == "W"
    assert abs(a.num_frames / 25.0 - a.phonemes[-1][2]) < 0.4  # trailing silence only


def test_generation_writes_the_preprocessed_sentence_layout(tmp_path):
    clips = {"train": 6, "val": 2, "test": 3}
    root = generate_sentence_dataset(tmp_path / "a", clips, grammar="tiny", frame_size=32, workers=1, progress=False)
    rows = list(csv.DictReader((root / "test.csv").open(encoding="utf-8")))
    assert list(rows[0]) == ["id", "path", "num_frames", "text"] and len(rows) == 3
    clip = load_clip(root / rows[0]["path"])
    assert clip.label == rows[0]["text"] and clip.num_frames == int(rows[0]["num_frames"])
    train_texts = {r["text"] for r in csv.DictReader((root / "train.csv").open(encoding="utf-8"))}
    assert not train_texts & {r["text"] for r in rows}  # held-out sentence types
    again = generate_sentence_dataset(tmp_path / "b", clips, grammar="tiny", frame_size=32, workers=1, progress=False)
    assert (root / "train.csv").read_text() == (again / "train.csv").read_text()
    assert np.array_equal(load_clip(root / "train/train_000003.npz").video, load_clip(again / "train/train_000003.npz").video)
    with pytest.raises(ValueError, match="other parameters"):
        generate_sentence_dataset(root, {"train": 7}, grammar="tiny", frame_size=32, workers=1, progress=False)


def test_english_grammar_held_out_types_and_distinct_fillers():
    grammar = english.GRAMMARS["medium"]
    splits = split_sentences(grammar)
    assert len(grammar.sentences()) == 43200 and len(grammar.words()) == 107
    assert not set(splits["test"]) & set(splits["train"]) and 0.09 < len(splits["test"]) / 43200 < 0.11
    assert "MY FRIEND COOKED DINNER IN THE GARDEN LAST NIGHT" in grammar.parses
    for slot, fillers in grammar.slots.items():  # no two fillers of a slot look alike
        strings = {tuple(v for v, _ in itertools.groupby(viseme_of(p) for p in english.phrase_phonemes(f))) for f in fillers}
        assert len(strings) == len(fillers), slot


def test_english_ambiguity_ceiling_counts_words():
    # PAT and BAT look the same (P/B/M are one viseme); SAM does not. The best reader of "PAT RAN" or
    # "BAT RAN" picks one of the two: one wrong word half the time, 0.5 edits per 2-word sentence.
    grammar = Grammar(slots={"S": ("PAT", "BAT", "SAM"), "V": ("RAN",)}, templates=(("S", "V"),), separator=" ")
    assert english.ambiguity_ceiling(grammar, ["PAT RAN", "BAT RAN", "SAM RAN"]) == pytest.approx((0.5 + 0.5) / 6)
    # CER: one character in 12 over the two look-alikes (spaces are no characters).
    assert english.ambiguity_ceiling(grammar, ["PAT RAN", "BAT RAN"], units=characters) == pytest.approx(1 / 12)


def test_english_clips_follow_the_words_timing(tmp_path):
    grammar = english.GRAMMARS["tiny"]
    clip = make_sentence_clip(english.ENGLISH, grammar, "MY FRIEND FED THE CAT AGAIN", np.random.default_rng(0), frame_size=32)
    spoken = [p for p, _, _ in clip.phonemes if p != "SIL"]
    assert spoken == list(english.phrase_phonemes("MY FRIEND FED THE CAT AGAIN")) and spoken[0] == "M"
    assert 1.0 < clip.duration < 3.0 and clip.video.shape[1:] == (32, 32)
    root = generate_sentence_dataset(tmp_path / "en", {"train": 4, "val": 2, "test": 2}, grammar="tiny",
                                     frame_size=32, workers=1, progress=False, language="english")
    meta = json.loads((root / "meta.json").read_text())
    assert meta["dataset"] == "synthetic_english_sentences" and meta["grammar"] == "tiny"
    rows = list(csv.DictReader((root / "test.csv").open(encoding="utf-8")))
    assert all(r["text"] in grammar.parses for r in rows)
    with pytest.raises(ValueError, match="valid: english, mandarin|valid: mandarin, english"):
        generate_sentence_dataset(tmp_path / "x", {"train": 1}, language="klingon", progress=False)
