"""Additive noise at a chosen SNR (data/noise.py)."""

import pytest
import torch

from lipreading.data.noise import AudioNoise, CleanAudio, babble_noise, mix_at_snr, pink_noise, standardise


def _speechlike(batch: int = 6, samples: int = 8000) -> torch.Tensor:
    t = torch.arange(samples) / 16000
    return torch.stack([torch.sin(2 * torch.pi * (200 + 50 * b) * t) * (1 + b) for b in range(batch)])


@pytest.mark.parametrize("snr", [20.0, 0.0, -5.0])
def test_mix_at_snr_reaches_the_snr_over_the_valid_samples(snr):
    audio = _speechlike()
    lengths = torch.tensor([8000, 6000, 8000, 4000, 8000, 7000])
    noise = torch.randn(audio.shape)
    mixed = mix_at_snr(audio, noise, torch.full((6,), snr), lengths)
    for b, n in enumerate(lengths.tolist()):
        added = mixed[b, :n] - audio[b, :n]
        measured = 10 * torch.log10(audio[b, :n].square().mean() / added.square().mean())
        assert abs(float(measured) - snr) < 0.01
        assert torch.all(mixed[b, n:] == audio[b, n:])  # padding untouched


def test_pink_noise_falls_by_about_3_db_per_octave():
    noise = pink_noise((4, 32768), torch.Generator().manual_seed(0), torch.device("cpu"))
    power = torch.fft.rfft(noise).abs().square().mean(0)
    low, high = power[100:200].mean(), power[200:400].mean()  # one octave apart
    assert 1.6 < float(low / high) < 2.5


def test_babble_comes_from_other_utterances_never_the_clip_itself():
    audio = torch.zeros(3, 1000)
    audio[1] = 1.0  # only clip 1 has signal
    babble = babble_noise(audio, torch.full((3,), 1000), torch.zeros(0, 1000), 1, torch.Generator().manual_seed(0))
    assert babble[1].abs().sum() == 0 and babble[0].abs().sum() > 0 and babble[2].abs().sum() > 0


def test_audio_noise_is_seeded_and_standardises():
    audio, lengths = _speechlike(), torch.full((6,), 8000)
    a = AudioNoise(["babble"], (0.0, 0.0), prob=1.0, seed=3)(audio, lengths)
    b = AudioNoise(["babble"], (0.0, 0.0), prob=1.0, seed=3)(audio, lengths)
    assert torch.equal(a, b)
    assert torch.allclose(a.std(1, unbiased=False), torch.ones(6), atol=1e-3)
    clean = CleanAudio()(audio, lengths)
    assert torch.allclose(clean, standardise(audio, lengths))
    with pytest.raises(ValueError, match="valid kinds: white, pink, babble"):
        AudioNoise(["brown"])
