"""Audio, visual or audio-visual word classifier: stream frontends -> fusion -> backend -> pooled head.

The streams present are the frontends given: video only, audio only, or both fused frame by frame
(``fusion``). So one model config serves ``modality=video|audio|av``: the unused frontend is
simply not built. Paper: S. Petridis et al., "End-to-end audiovisual speech recognition",
ICASSP 2018; reference: ``lipreading/model.py`` of github.com/mpc001/Lipreading_using_TCN (its
audio and video models; the fusion here is ours, see :mod:`lipreading.models.fusion`).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from lipreading.models.classifier import append_boundary
from lipreading.models.masks import length_mask, zero_padded_frames
from lipreading.models.pooling import MeanPooling


class AudioVisualWordNet(nn.Module):
    """Word classifier over the video (B, C, T, H, W), the audio (B, T * 640) or both.

    ``video_frontend`` maps video to (B, T, Dv); ``audio_frontend`` maps audio and lengths to
    (B, T, Da); ``fusion`` is a factory ``(video_dim, audio_dim) -> module`` used when both are
    given; ``backend`` a factory ``(input_dim) -> module`` over (B, T, D), lengths; ``pooling`` a
    factory ``(input_dim) -> module`` over the backend's (B, T, D'), lengths: the masked mean by
    default, or attention over time (:class:`~lipreading.models.pooling.AttentionPooling`).

    With ``use_boundary`` the per-frame word-boundary indicator joins the (fused) frame features as
    one more channel, as in :class:`~lipreading.models.classifier.WordClassifierNet` (the reference's
    audio-only ``resnet18_dctcn_audio_boundary``: 99.2% on LRW).
    """

    def __init__(
        self,
        backend: Callable[..., nn.Module],
        num_classes: int,
        video_frontend: nn.Module | None = None,
        audio_frontend: nn.Module | None = None,
        fusion: Callable[..., nn.Module] | None = None,
        dropout: float = 0.0,
        use_boundary: bool = False,
        pooling: Callable[..., nn.Module] = MeanPooling,
    ) -> None:
        super().__init__()
        if video_frontend is None and audio_frontend is None:
            raise ValueError("AudioVisualWordNet needs a video_frontend, an audio_frontend or both")
        self.video_frontend = video_frontend
        self.audio_frontend = audio_frontend
        self.fusion = None
        if video_frontend is not None and audio_frontend is not None:
            if fusion is None:
                raise ValueError("an audio-visual model needs a fusion (model/fusion=concat or attention)")
            self.fusion = fusion(video_dim=video_frontend.output_dim, audio_dim=audio_frontend.output_dim)
            feature_dim = self.fusion.output_dim
        else:
            feature_dim = (video_frontend or audio_frontend).output_dim
        self.use_boundary = use_boundary
        self.backend = backend(input_dim=feature_dim + int(use_boundary))
        self.pooling = pooling(input_dim=self.backend.output_dim)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.pooling.output_dim, num_classes)
        self.num_classes = num_classes

    @property
    def modality(self) -> str:
        """'av', 'audio' or 'video': the streams this network reads."""
        if self.fusion is not None:
            return "av"
        return "audio" if self.audio_frontend is not None else "video"

    def forward(
        self,
        video: torch.Tensor,
        lengths: torch.Tensor,
        boundary: torch.Tensor | None = None,
        audio: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if self.audio_frontend is not None and audio is None:
            raise ValueError(f"this {self.modality} network needs the audio; the batch has none (data.modality?)")
        streams = []
        if self.video_frontend is not None:
            # Zero the padded frames (and samples below), so padding never changes a clip's result.
            video = zero_padded_frames(video, lengths)  # (B, C, T, H, W), frames beyond each clip zeroed
            streams.append(self.video_frontend(video, lengths))  # (B, C, T, H, W) -> (B, T, Dv)
        if self.audio_frontend is not None:
            audio = audio * length_mask(lengths * self.audio_frontend.samples_per_frame, audio.shape[1]).to(audio.dtype)
            streams.append(self.audio_frontend(audio, lengths))  # (B, T*640) -> (B, T, Da)
        if self.fusion is not None:
            features, lengths = self.fusion(streams[0], streams[1], lengths)  # -> (B, T, D)
        else:
            features = streams[0]
        if boundary is not None:  # the fused streams may be a frame shorter than the video
            boundary = boundary[:, : features.shape[1]]
        features = append_boundary(features, boundary, self.use_boundary)  # -> (B, T, D + use_boundary)
        features = self.backend(features, lengths)  # (B, T, D) -> (B, T, D')
        pooled = self.pooling(features, lengths)  # (B, T, D') -> (B, D')
        return self.head(self.dropout(pooled))  # (B, num_classes) logits
