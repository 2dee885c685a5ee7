"""Which of the separated voices belongs to the mouth in the video: a learned audio-visual match.

The separator separates every voice (trained permutation-invariantly, as the audio-only baseline);
this module scores each separated voice against the visual condition (lip motion, and the appearance
embedding when there is one) and the best-scoring voice is the target. Scores are the mean over time of
the dot product of an embedding of the voice's band energies and an embedding of the condition, the
co-occurrence of sound and lip movement that audio-visual synchrony models learn (Chung & Zisserman,
"Out of time: automated lip sync in the wild", ACCV 2016 workshops).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _masked(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return x * mask[:, None, :]


class TargetSelector(nn.Module):
    """(B, S, F, T_s) separated magnitudes, (B, D, T_b) condition, (B, T_s) valid steps -> (B, S) logits.

    ``time_factor`` STFT steps make one condition step; the frequency axis is averaged into
    ``num_bands`` bands (``F`` must be a multiple of it).
    """

    def __init__(self, condition_dim: int, time_factor: int, num_bands: int = 32, hidden: int = 64) -> None:
        super().__init__()
        self.time_factor, self.num_bands = time_factor, num_bands
        self.audio_in = nn.Conv1d(num_bands, hidden, 3, padding=1)
        self.audio_out = nn.Conv1d(hidden, hidden, 1)
        self.video_in = nn.Conv1d(condition_dim, hidden, 3, padding=1)
        self.video_out = nn.Conv1d(hidden, hidden, 1)

    def forward(self, magnitudes: torch.Tensor, condition: torch.Tensor, step_mask: torch.Tensor) -> torch.Tensor:
        batch, speakers, frequencies, steps = magnitudes.shape
        if frequencies % self.num_bands:
            raise ValueError(f"{frequencies} frequency bins do not split into {self.num_bands} bands")
        bands = torch.log(magnitudes + 1e-4) * step_mask[:, None, None]  # (B, S, F, T_s), padding zero
        bands = F.pad(bands, (0, -steps % self.time_factor)).flatten(0, 1)  # (B*S, F, T) with T a multiple
        pooled = F.avg_pool2d(bands[:, None], (frequencies // self.num_bands, self.time_factor))[:, 0]  # (B*S, bands, T_b)
        valid = F.max_pool1d(F.pad(step_mask, (0, -steps % self.time_factor))[:, None], self.time_factor)[:, 0]  # (B, T_b)
        valid = valid[:, : condition.shape[-1]]
        pooled = pooled[..., : condition.shape[-1]]
        every = valid.repeat_interleave(speakers, 0)
        voices = _masked(self.audio_out(F.relu(self.audio_in(_masked(pooled, every)))), every)  # (B*S, H, T_b)
        lips = _masked(self.video_out(F.relu(self.video_in(_masked(condition, valid)))), valid)  # (B, H, T_b)
        voices = voices.reshape(batch, speakers, *voices.shape[1:])
        agreement = (voices * lips[:, None]).sum(2)  # (B, S, T_b)
        return agreement.sum(-1) / valid.sum(-1, keepdim=True).clamp(min=1) / voices.shape[2] ** 0.5
