"""Losses and figures of merit of speech separation: SI-SDR, its improvement, PIT, mask targets."""

from __future__ import annotations

import torch
from torchmetrics.functional.audio import permutation_invariant_training, scale_invariant_signal_distortion_ratio


def si_sdr(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Scale-invariant SDR in dB over the last axis (Le Roux et al., ICASSP 2019), no mean removal.

    Without mean removal, zero padding after a clip (in both signals) does not change its value.
    """
    return scale_invariant_signal_distortion_ratio(estimate, reference, zero_mean=False)


def best_permutation(estimates: torch.Tensor, sources: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, S, N) estimates and sources -> the mean SI-SDR (B,) of the best assignment and that
    assignment (B, S): ``estimates[b, perm[b, s]]`` is the estimate of ``sources[b, s]``."""
    return permutation_invariant_training(
        estimates, sources, si_sdr, mode="speaker-wise", eval_func="max"
    )


def target_estimate(estimates: torch.Tensor, sources: torch.Tensor, ordered: bool) -> torch.Tensor:
    """The target's estimate (B, N): output 0 of an audio-visual model (``ordered``: its selector put
    the voice it matched to the video first); for an audio-only
    model the output that the best assignment gives the target (source 0).
    NOTE: that assignment uses the reference (as PIT evaluations do): the audio-only baseline is
    told which of its outputs is the target, an advantage the audio-visual model does not get.
    With more speakers than outputs (a 2-output model on 3-speaker mixtures) it is the output closest
    to the target (highest SI-SDR)."""
    if ordered:
        return estimates[:, 0]
    rows = torch.arange(len(estimates), device=estimates.device)
    if estimates.shape[1] != sources.shape[1]:
        return estimates[rows, si_sdr(estimates, sources[:, :1].expand_as(estimates)).argmax(1)]
    _, perm = best_permutation(estimates, sources)
    return estimates[rows, perm[:, 0]]


def ideal_masks(sources: torch.Tensor, mixture: torch.Tensor, kind: str, bound: float = 2.0) -> torch.Tensor:
    """The masks that turn the mixture's STFT ``mixture`` (B, F, T) into the sources' ``sources`` (B, S, F, T).

    ``magnitude``: the ideal ratio mask ``|S| / |X|`` clipped to [0, 1]; ``complex``: ``S / X`` with its
    real and imaginary parts clipped to the model's bound (``±bound``).
    """
    if kind == "magnitude":
        return (sources.abs() / mixture[:, None].abs().clamp(min=1e-8)).clamp(0.0, 1.0)
    ratio = sources / torch.where(mixture.abs() > 0, mixture, torch.full_like(mixture, 1e-8))[:, None]
    return torch.complex(ratio.real.clamp(-bound, bound), ratio.imag.clamp(-bound, bound))


def mask_error(predicted: torch.Tensor, ideal: torch.Tensor, step_mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error (B,) between masks (B, F, T) over each clip's valid frames."""
    squared = (predicted - ideal).abs().square()  # complex masks: squared modulus
    frames = step_mask[:, None, :]
    return (squared * frames).sum((-2, -1)) / (frames.sum((-2, -1)) * predicted.shape[-2]).clamp(min=1)


def mask_pit(predicted: torch.Tensor, ideal: torch.Tensor, step_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The lowest mean mask error (B,) over assignments of predicted masks (B, S, F, T) to the
    speakers' ideal masks, and that assignment (B, S); one output: its error."""
    return permutation_invariant_training(
        predicted, ideal, lambda p, i: mask_error(p, i, step_mask), mode="speaker-wise", eval_func="min"
    )
