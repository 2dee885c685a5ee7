"""The separation benchmark's conditions: each test set's mixtures are what its name says, fixed by the seed."""

from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

from lipreading.data.mixtures import MixtureDataset, MixtureError, power
from lipreading.data.synthetic.espeak import Voice
from lipreading.data.synthetic.speech import speaker_voice, voice_of_speaker
from tests.conftest import compose_config

# Voices of six speakers: two female ones 4 apart in base pitch, male ones 3, 30 and 60 apart.
VOICES = {
    "f1": Voice("en-us+f2", pitch=40), "f2": Voice("en-us+f3", pitch=44),
    "m1": Voice("en-us+m3", pitch=50), "m2": Voice("en-us", pitch=53),
    "m3": Voice("en-us+m1", pitch=80), "m4": Voice("en-us+m7", pitch=20),
}


def items(per_speaker: int = 3, frames: int = 6) -> list[dict]:
    rng = np.random.default_rng(0)
    out = []
    for s, speaker in enumerate(VOICES):
        for i in range(per_speaker):
            out.append({
                "audio": torch.from_numpy(rng.standard_normal(frames * 640).astype(np.float32)),
                "video": torch.zeros(frames, 8, 8, dtype=torch.uint8), "speaker": speaker,
                "label": i, "path": f"{speaker}_{i}.npz",
            })
    return out


def mixtures(pairing: str, count: int = 40, seed: int = 3, **kwargs) -> list[dict]:
    dataset = MixtureDataset(items(), seed=seed, size=count, pairing=pairing, voice_of=VOICES.get, **kwargs)
    return [dataset[i] for i in range(count)]


def test_same_voice_mixtures_are_two_words_of_one_speaker_with_identical_voices():
    for mix in mixtures("same_voice"):
        target, interferer = mix["speakers"]
        assert target == interferer and VOICES[target] == VOICES[interferer]
        assert mix["interferers"][0] != mix["path"]  # another utterance
        assert mix["interferers"][0].split("_")[1] != mix["path"].split("_")[1]  # of another word
    sources = mixtures("same_voice", count=1)[0]["sources"]
    assert not torch.equal(sources[0] / sources[0].norm(), sources[1] / sources[1].norm())


def test_close_pitch_mixtures_are_one_sex_less_than_the_gap_apart_and_different_sex_ones_are_not():
    close = mixtures("close_pitch")
    for mix in close:
        a, b = (VOICES[s] for s in mix["speakers"])
        assert a.sex == b.sex and abs(a.pitch - b.pitch) < 10 and mix["speakers"][0] != mix["speakers"][1]
    assert {m["speakers"][0] for m in close} == {"f1", "f2", "m1", "m2"}  # m3, m4 have no close partner
    for mix in mixtures("different_sex"):
        a, b = (VOICES[s] for s in mix["speakers"])
        assert a.sex != b.sex
    wider = mixtures("close_pitch", max_pitch_gap=31)
    assert "m3" in {m["speakers"][0] for m in wider}  # 30 apart from m1


def test_three_speaker_and_noise_conditions_and_determinism_by_seed():
    for mix in mixtures("other_speaker", num_speakers=3):
        assert mix["sources"].shape[0] == 3 and len(set(mix["speakers"])) == 3
    for mix in mixtures("other_speaker", count=5, noise_kinds=["white"], noise_prob=1.0, noise_snr_db=(0, 10)):
        clean = mix["sources"].sum(0).numpy()
        snr = 10 * np.log10(power(clean) / power(mix["mixture"].numpy() - clean))
        assert 0 <= mix["noise_snr_db"] <= 10 and snr == pytest.approx(mix["noise_snr_db"], abs=1e-3)
    first, again, other = mixtures("same_voice", count=5), mixtures("same_voice", count=5), mixtures("same_voice", count=5, seed=4)
    assert all(torch.equal(a["mixture"], b["mixture"]) for a, b in zip(first, again))
    assert not all(torch.equal(a["mixture"], b["mixture"]) for a, b in zip(first, other))


def test_a_share_of_training_mixtures_is_same_voice_and_the_default_draws_are_unchanged():
    share = MixtureDataset(items(per_speaker=6), seed=0, same_voice_fraction=0.5, voice_of=VOICES.get)
    same = [share[(e, i)]["speakers"] for e in range(4) for i in range(len(share))]
    fraction = np.mean([a == b for a, b in same])
    assert 0.35 < fraction < 0.65
    plain = MixtureDataset(items(per_speaker=6), seed=0)
    assert all(plain[(0, i)]["speakers"][0] != plain[(0, i)]["speakers"][1] for i in range(len(plain)))


def test_pairings_by_voice_need_voices_and_bad_names_are_named():
    with pytest.raises(MixtureError, match="unknown pairing 'twins'; valid pairings: other_speaker, same_voice"):
        MixtureDataset(items(), seed=0, pairing="twins")
    with pytest.raises(MixtureError, match="needs the speakers' voices"):
        MixtureDataset(items(), seed=0, pairing="close_pitch")
    lonely = [dict(item, speaker=f"x{i}") for i, item in enumerate(items(per_speaker=1))]
    with pytest.raises(MixtureError, match="no clip of this split has 1 partner"):
        MixtureDataset(lonely, seed=0, size=2, pairing="same_voice")[0]


def test_the_pool_speakers_voices_are_those_the_clips_were_spoken_with():
    assert voice_of_speaker(0, "synth007") == speaker_voice(0, 7)
    assert voice_of_speaker(0, "s7") is None
    assert Voice("en-us+f4").sex == "female" and Voice("en-us").sex == Voice("en-us+m2").sex == "male"


def test_the_data_config_defines_the_benchmark_conditions(tmp_path: Path):
    cfg = compose_config("train", ["experiment=separation", f"paths.data_dir={tmp_path}"], tmp_path)
    datamodule = instantiate(cfg.data)
    assert list(datamodule.conditions) == ["different_speakers", "different_sex", "close_pitch", "same_voice",
                                           "three_speakers", "noise"]
    assert datamodule.conditions["three_speakers"] == {"num_speakers": 3}
    assert datamodule.clips.voice_of("synth012") == speaker_voice(0, 12)
    with pytest.raises(Exception, match="unknown separation condition 'twins'; this data config defines: different_speakers"):
        datamodule.set_condition("test", "twins")
