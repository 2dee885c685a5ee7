"""Figures of merit of separated speech, per mixture, and the example files of a separation report.

SI-SDR and SDR come from torchmetrics, SIR and SAR from ``fast_bss_eval``'s BSS-eval decomposition
(its SDR equals torchmetrics'), STOI from torchmetrics (``pystoi``), and PESQ (wide band) from
torchmetrics when the optional ``pesq`` package is installed (pip install '.[pesq]'; it compiles C).
Each is measured over the mixture's valid samples; the improvements (``*_i``) are over the mixture
itself taken as the estimate.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import fast_bss_eval
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
    si_sdr = float(scale_invariant_signal_distortion_ratio(est, target))
    si_sdr_mix = float(scale_invariant_signal_distortion_ratio(mix, target))
    sdr = float(signal_distortion_ratio(est, target))
    sdr_mix = float(signal_distortion_ratio(mix, target))
    # BSS-eval of the estimate against every source: row 0 depends on the estimate alone (the
    # residual only fills the second row the function needs).
    with np.errstate(divide="ignore", invalid="ignore"):  # a silent residual row divides by zero; row 0 is unaffected
        _, sir, sar = fast_bss_eval.bss_eval_sources(
            np.asarray(sources, dtype=np.float64), np.stack([estimate, mixture - estimate]).astype(np.float64),
            compute_permutation=False,
        )
    stoi = float(short_time_objective_intelligibility(est, target, sample_rate))
    stoi_mix = float(short_time_objective_intelligibility(mix, target, sample_rate))
    row = {
        "si_sdr": si_sdr, "si_sdri": si_sdr - si_sdr_mix, "sdr": sdr, "sdri": sdr - sdr_mix,
        "sir": float(sir[0]), "sar": float(sar[0]), "stoi": stoi, "stoii": stoi - stoi_mix,
        "input_si_sdr": si_sdr_mix,
    }
    if with_pesq:
        from torchmetrics.functional.audio import perceptual_evaluation_speech_quality

        try:
            row["pesq"] = float(perceptual_evaluation_speech_quality(est.float(), target.float(), sample_rate, "wb"))
        except Exception:  # noqa: BLE001 - PESQ rejects silent or too short signals: no value, not a crash
            row["pesq"] = math.nan
    return row


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
