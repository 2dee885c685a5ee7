"""Figures of merit of separated speech, per mixture, and the example files of a separation report.

SI-SDR and SDR come from torchmetrics, SIR and SAR from the BSS-eval decomposition of
:func:`bss_eval_sir_sar`, STOI from torchmetrics (``pystoi``), and PESQ (wide band) from
torchmetrics when the optional ``pesq`` package is installed (pip install '.[pesq]'; it compiles C).
Each is measured over the mixture's valid samples; the improvements (``*_i``) are over the mixture
itself taken as the estimate.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from torchmetrics.functional.audio import (
    scale_invariant_signal_distortion_ratio,
    short_time_objective_intelligibility,
    signal_distortion_ratio,
)

from lipreading.data.audio import SAMPLE_RATE, write_wav
from lipreading.reports.plots import save_figure

METRICS = ("si_sdr", "si_sdri", "sdr", "sdri", "sir", "sar", "stoi", "stoii", "pesq")


def pesq_available() -> bool:
    """Whether the optional ``pesq`` package is installed."""
    try:
        import pesq  # noqa: F401
    except ImportError:
        return False
    return True


def mixture_metrics(estimate: np.ndarray, sources: np.ndarray, mixture: np.ndarray, with_pesq: bool,
                    sample_rate: int = SAMPLE_RATE) -> dict[str, float]:
    """The target's figures of merit: ``estimate`` (N,) of ``sources[0]`` among ``sources`` (S, N) in ``mixture`` (N,)."""
    target = torch.from_numpy(np.asarray(sources[0], dtype=np.float64))
    est = torch.from_numpy(np.asarray(estimate, dtype=np.float64))
    mix = torch.from_numpy(np.asarray(mixture, dtype=np.float64))
    sir, sar = bss_eval_sir_sar(np.asarray(estimate, dtype=np.float64), np.asarray(sources, dtype=np.float64))
    stoi = float(short_time_objective_intelligibility(est, target, sample_rate))
    stoi_mix = float(short_time_objective_intelligibility(mix, target, sample_rate))
    row = {**distortion_metrics(estimate, sources, mixture), "sir": sir, "sar": sar, "stoi": stoi, "stoii": stoi - stoi_mix}
    if with_pesq:
        from torchmetrics.functional.audio import perceptual_evaluation_speech_quality

        try:
            row["pesq"] = float(perceptual_evaluation_speech_quality(est.float(), target.float(), sample_rate, "wb"))
        except Exception:  # noqa: BLE001 - PESQ rejects silent or too short signals: no value, not a crash
            row["pesq"] = math.nan
    return row


def distortion_metrics(estimate: np.ndarray, sources: np.ndarray, mixture: np.ndarray) -> dict[str, float]:
    """SI-SDR and SDR of ``estimate`` (N,) of ``sources[0]``, their improvements over ``mixture`` (N,) and its own SI-SDR."""
    target = torch.from_numpy(np.asarray(sources[0], dtype=np.float64))
    est = torch.from_numpy(np.asarray(estimate, dtype=np.float64))
    mix = torch.from_numpy(np.asarray(mixture, dtype=np.float64))
    si_sdr = float(scale_invariant_signal_distortion_ratio(est, target))
    si_sdr_mix = float(scale_invariant_signal_distortion_ratio(mix, target))
    sdr = float(signal_distortion_ratio(est, target))
    sdr_mix = float(signal_distortion_ratio(mix, target))
    return {"si_sdr": si_sdr, "si_sdri": si_sdr - si_sdr_mix, "sdr": sdr, "sdri": sdr - sdr_mix, "input_si_sdr": si_sdr_mix}


def bss_eval_sir_sar(estimate: np.ndarray, sources: np.ndarray, filter_length: int = 512) -> tuple[float, float]:
    """SIR and SAR (dB) of ``estimate`` (N,) of ``sources[0]`` among ``sources`` (S, N): BSS-eval's decomposition
    (Vincent et al. 2006) with distortion filters of ``filter_length`` taps, as ``fast_bss_eval`` computes it.

    The estimate is projected on the delayed copies of the target (``P_t``) and of every source (``P_s``):
    SIR = |P_t e|^2 / (|P_s e|^2 - |P_t e|^2), SAR = |P_s e|^2 / (|e|^2 - |P_s e|^2), with the correlation
    (Toeplitz) approximation of the Gram matrices.
    NOTE: written here because fast_bss_eval 0.1.4, its latest release, calls np.linalg.solve in a way numpy 2
    rejects, and torch's batched solve fails under MKL with two threads; on numpy 1 the two agree within 1e-9 dB.
    """
    num_sources, length = sources.shape
    n_fft = 1 << int(np.ceil(np.log2(2 * length - 1)))
    spectra = np.fft.rfft(sources, n_fft)  # (S, F)
    # Correlations at every lag (negative ones wrap to the end): acf[i, j, lag] = sum_n s_i[n + lag] s_j[n].
    acf = np.fft.irfft(spectra[:, None] * spectra[None].conj(), n_fft)  # (S, S, n_fft)
    lags = np.arange(filter_length)
    # <s_i delayed by a, s_j delayed by b> = acf[i, j, b - a]: (L, L) lags of each block.
    offsets = lags[None, :] - lags[:, None]
    gram = acf[:, :, offsets % n_fft].transpose(0, 2, 1, 3).reshape(num_sources * filter_length, -1)  # (S*L, S*L)
    xcorr = np.fft.irfft(spectra.conj() * np.fft.rfft(estimate, n_fft), n_fft)[:, :filter_length].reshape(-1, 1)  # (S*L, 1)
    energy = float(estimate @ estimate)
    all_sources = float(xcorr[:, 0] @ np.linalg.solve(gram, xcorr)[:, 0])
    target = float(xcorr[:filter_length, 0] @ np.linalg.solve(gram[:filter_length, :filter_length], xcorr[:filter_length])[:, 0])
    with np.errstate(divide="ignore"):  # no interference or no artefact at all: +inf dB
        sir = 10 * np.log10(np.float64(target) / max(all_sources - target, 0.0))
        sar = 10 * np.log10(np.float64(all_sources) / max(energy - all_sources, 0.0))
    return float(sir), float(sar)


def summarise(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Mean (and median SI-SDRi) of each metric over the mixtures; NaN values are left out."""
    summary: dict[str, float] = {}
    for name in (*METRICS, "input_si_sdr"):
        values = np.array([row[name] for row in rows if name in row], dtype=np.float64)
        values = values[np.isfinite(values)]
        if len(values):
            summary[name] = float(values.mean())
    values = np.array([row["si_sdri"] for row in rows])
    summary["si_sdri_median"] = float(np.median(values))
    summary["num_mixtures"] = float(len(rows))
    return summary


def by_level(rows: list[dict[str, Any]], edges: tuple[float, ...] = (-5.0, -2.5, 0.0, 2.5, 5.0)) -> list[dict[str, Any]]:
    """Mean input SI-SDR, SI-SDR and SI-SDRi per bin of the target-to-interferer level (dB)."""
    bins = []
    for low, high in zip(edges[:-1], edges[1:]):
        chosen = [r for r in rows if low <= r["level_db"] < high or (high == edges[-1] and r["level_db"] == high)]
        if chosen:
            bins.append({
                "level_db": f"[{low:g}, {high:g})", "mixtures": len(chosen),
                **{name: float(np.mean([r[name] for r in chosen])) for name in ("input_si_sdr", "si_sdr", "si_sdri")},
            })
    return bins


def plot_spectrograms(signals: dict[str, np.ndarray], path: Path, title: str = "", sample_rate: int = SAMPLE_RATE) -> Path:
    """Log-magnitude spectrograms of the named signals, one panel each (mixture / estimate / reference)."""
    figure = Figure(figsize=(4 * len(signals), 3.2))
    window = torch.hann_window(400)
    for i, (name, signal) in enumerate(signals.items()):
        spectrum = torch.stft(torch.as_tensor(signal, dtype=torch.float32), 512, 160, 400, window, return_complex=True)
        power_db = 20 * torch.log10(spectrum.abs() + 1e-5).numpy()
        axis = figure.add_subplot(1, len(signals), i + 1)
        axis.imshow(power_db, origin="lower", aspect="auto", cmap="magma", vmin=power_db.max() - 80, vmax=power_db.max(),
                    extent=(0, len(signal) / sample_rate, 0, sample_rate / 2000))
        axis.set_title(name)
        axis.set_xlabel("time (s)")
        if i == 0:
            axis.set_ylabel("frequency (kHz)")
    if title:
        figure.suptitle(title, y=1.04)
    return save_figure(figure, path)


def write_example(folder: Path, mixture: np.ndarray, estimate: np.ndarray, sources: np.ndarray, title: str) -> list[Path]:
    """WAVs of the mixture, the estimate, the target and the interferers, and their spectrograms."""
    peak = max(np.abs(mixture).max(), np.abs(estimate).max(), np.abs(sources).max(), 1e-6)
    scale = 0.9 / peak  # one scale for all files: they compare by ear
    paths = [write_wav(folder / "mixture.wav", mixture * scale), write_wav(folder / "estimate.wav", estimate * scale),
             write_wav(folder / "target.wav", sources[0] * scale)]
    paths += [write_wav(folder / f"interferer{i}.wav", s * scale) for i, s in enumerate(sources[1:], 1)]
    paths.append(plot_spectrograms({"mixture": mixture, "estimate": estimate, "target (reference)": sources[0]},
                                   folder / "spectrograms.png", title))
    return paths
