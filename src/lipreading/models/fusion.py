"""Fusion of the visual and audio streams, frame by frame at 25 fps: (B, T, Dv), (B, T', Da) -> (B, T, D).

Both streams come at the video's frame rate; when their lengths differ (an audio track a frame
short) the fused sequence is the common part, ``min(T, T')`` frames, and the clips' lengths are
clipped to it. In training, modality dropout hides one whole stream of a clip with probability
``modality_dropout`` (the video or the audio, evenly), so the fused model learns to use either
stream alone (as in audio-visual speech recognition with missing or corrupted modalities).
"""

from __future__ import annotations

import torch
from torch import nn


def common_length(
    video: torch.Tensor, audio: torch.Tensor, lengths: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Both streams cut to their common number of frames, and the lengths clipped to it."""
    frames = min(video.shape[1], audio.shape[1])
    return video[:, :frames], audio[:, :frames], lengths.clamp(max=frames)


def stream_keep(batch: int, probability: float, training: bool, device: torch.device) -> torch.Tensor:
    """(B, 2) 0/1 weights of (video, audio) per clip: one stream dropped with ``probability`` in training."""
    keep = torch.ones(batch, 2, device=device)
    if not training or probability <= 0:
        return keep
    drop = torch.rand(batch, device=device) < probability
    which = torch.randint(0, 2, (batch,), device=device)
    keep[drop, which[drop]] = 0.0
    return keep


class ConcatFusion(nn.Module):
    """Per-frame concatenation ``[video; audio]``: output_dim = video_dim + audio_dim."""

    def __init__(self, video_dim: int, audio_dim: int, modality_dropout: float = 0.0) -> None:
        super().__init__()
        self.modality_dropout = modality_dropout
        self.output_dim = video_dim + audio_dim

    def forward(
        self, video: torch.Tensor, audio: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        video, audio, lengths = common_length(video, audio, lengths)
        keep = stream_keep(video.shape[0], self.modality_dropout, self.training, video.device)
        fused = torch.cat([video * keep[:, None, :1], audio * keep[:, None, 1:]], dim=-1)  # (B, T, Dv + Da)
        return fused, lengths


class AttentionFusion(nn.Module):
    """Attention pooling over the two streams per frame: each is projected to ``dim`` and weighted by
    a softmax of learned scores, so the model can lean on the cleaner stream frame by frame.
    A dropped stream (modality dropout) is left out of the softmax."""

    def __init__(self, video_dim: int, audio_dim: int, dim: int = 256, modality_dropout: float = 0.0) -> None:
        super().__init__()
        self.modality_dropout = modality_dropout
        self.video_proj = nn.Linear(video_dim, dim)
        self.audio_proj = nn.Linear(audio_dim, dim)
        self.score = nn.Sequential(nn.Tanh(), nn.Linear(dim, 1))
        self.output_dim = dim

    def forward(
        self, video: torch.Tensor, audio: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        video, audio, lengths = common_length(video, audio, lengths)
        streams = torch.stack([self.video_proj(video), self.audio_proj(audio)], dim=2)  # (B, T, 2, dim)
        keep = stream_keep(video.shape[0], self.modality_dropout, self.training, video.device)
        scores = self.score(streams).squeeze(-1)  # (B, T, 2)
        scores = scores.masked_fill(keep[:, None, :] == 0, float("-inf"))
        weights = scores.softmax(dim=-1)  # (B, T, 2)
        return (weights[..., None] * streams).sum(dim=2), lengths  # (B, T, dim)
