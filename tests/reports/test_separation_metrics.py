"""Per-mixture metrics against hand-made cases, the summary, and the example files."""

import wave
from pathlib import Path

import numpy as np
import pytest

from lipreading.data.audio import read_wav
from lipreading.reports.separation import bss_eval_sir_sar, by_level, mixture_metrics, pesq_available, summarise, write_example


def sources_pair(seed: int = 0, length: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(length) / 16000
    # Two "voices": harmonic tones with different pitch and amplitude envelopes.
    first = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 6)) * (1 + np.sin(2 * np.pi * 3 * t))
    second = sum(np.sin(2 * np.pi * 215 * k * t) / k for k in range(1, 6)) * (1 + np.cos(2 * np.pi * 2 * t))
    return np.stack([first, second]) + 0.01 * rng.standard_normal((2, length))


def test_the_mixture_itself_improves_nothing_and_a_perfect_estimate_is_near_infinite():
    sources = sources_pair()
    mixture = sources.sum(0)
    as_is = mixture_metrics(mixture, sources, mixture, with_pesq=False)
    assert as_is["si_sdri"] == 0 and as_is["sdri"] == 0 and as_is["stoii"] == 0
    assert as_is["input_si_sdr"] == pytest.approx(as_is["si_sdr"])
    perfect = mixture_metrics(sources[0], sources, mixture, with_pesq=False)
    assert perfect["si_sdr"] > 100 and perfect["sdr"] > 60 and perfect["sir"] > 60 and perfect["stoi"] > 0.99
    assert perfect["si_sdri"] > 90


def test_interference_lowers_sir_and_leaves_sar_high():
    sources = sources_pair()
    estimate = sources[0] + 0.1 * sources[1]  # interferer at -20 dB relative amplitude
    row = mixture_metrics(estimate, sources, sources.sum(0), with_pesq=False)
    expected_sir = 10 * np.log10(np.sum(sources[0] ** 2) / np.sum((0.1 * sources[1]) ** 2))
    assert row["sir"] == pytest.approx(expected_sir, abs=1.0)
    assert row["sar"] > row["sir"] + 10
    noisy = mixture_metrics(sources[0] + 0.3 * np.random.default_rng(1).standard_normal(16000), sources, sources.sum(0), False)
    assert noisy["sar"] < noisy["sir"]  # unrelated noise is an artefact, not interference


@pytest.mark.skipif(not pesq_available(), reason="needs the optional pesq package")
def test_pesq_when_installed():
    sources = sources_pair()
    assert mixture_metrics(sources[0], sources, sources.sum(0), with_pesq=True)["pesq"] > 4.0


def test_summary_and_levels():
    rows = [{"si_sdr": float(i), "si_sdri": float(i) + 1, "input_si_sdr": -1.0, "level_db": lvl, "sdr": 1.0, "sdri": 1.0,
             "sir": 1.0, "sar": 1.0, "stoi": 0.9, "stoii": 0.1, "pesq": float("nan")} for i, lvl in enumerate([-4, -1, 1, 5])]
    summary = summarise(rows)
    assert summary["si_sdri"] == 2.5 and summary["num_mixtures"] == 4 and "pesq" not in summary
    levels = by_level(rows)
    assert [level["mixtures"] for level in levels] == [1, 1, 1, 1] and levels[-1]["si_sdri"] == 4.0


def test_example_files(tmp_path: Path):
    sources = sources_pair(length=8000)
    paths = write_example(tmp_path / "000", sources.sum(0), sources[0], sources, "example")
    names = sorted(p.name for p in paths)
    assert names == ["estimate.wav", "interferer1.wav", "mixture.wav", "spectrograms.png", "target.wav"]
    samples, rate = read_wav(tmp_path / "000" / "target.wav")
    assert rate == 16000 and len(samples) == 8000 and np.abs(samples).max() <= 0.91
    mixture, _ = read_wav(tmp_path / "000" / "mixture.wav")
    assert np.corrcoef(mixture, sources.sum(0))[0, 1] > 0.999
    with wave.open(str(tmp_path / "000" / "estimate.wav")) as f:
        assert f.getsampwidth() == 2 and f.getnchannels() == 1


def test_bss_decomposition_equals_the_least_squares_projections():
    """SIR/SAR against the definition: projections on the delayed copies, solved exactly by least squares."""
    rng = np.random.default_rng(3)
    length, taps = 3000, 16
    sources = rng.standard_normal((3, length))
    estimate = np.convolve(sources[0], [1.0, 0.4, -0.2])[:length] + 0.3 * sources[1] + 0.1 * rng.standard_normal(length)

    def projection_energy(signals: np.ndarray) -> float:
        delayed = np.stack([np.concatenate([np.zeros(d), s[: length - d]]) for s in signals for d in range(taps)], axis=1)
        coefficients = np.linalg.lstsq(delayed, estimate, rcond=None)[0]
        return float(np.sum((delayed @ coefficients) ** 2))

    target, every = projection_energy(sources[:1]), projection_energy(sources)
    expected_sir = 10 * np.log10(target / (every - target))
    expected_sar = 10 * np.log10(every / (np.sum(estimate**2) - every))
    sir, sar = bss_eval_sir_sar(estimate, sources, filter_length=taps)
    # The Gram matrices are the stationary (Toeplitz) approximation: equal up to edge effects of taps / length.
    assert sir == pytest.approx(expected_sir, abs=0.05) and sar == pytest.approx(expected_sar, abs=0.05)
