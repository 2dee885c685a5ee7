"""Audio frontends: raw-waveform 1D ResNet and log-mel + 2D EfficientNet, (B, N) -> (B, T, D) at 25 fps.

Both take 16 kHz audio aligned to the video (``samples_per_frame`` = 640 samples per 25 fps
frame) and the clips' lengths in frames, and give one feature vector per video frame, so their
output joins the visual stream frame by frame. Padding beyond a clip's length never changes its
features: the waveform is zeroed there and the 1D ResNet re-zeroes every layer's padding.

Papers: S. Petridis et al., "End-to-end audiovisual speech recognition", ICASSP 2018 (raw-waveform
ResNet-18); B. Martinez, P. Ma, S. Petridis, M. Pantic, "Lipreading using Temporal Convolutional
Networks", ICASSP 2020 (its audio-only ResNet-18 + MS-TCN, 29.03M parameters with 500 classes).
Reference implementation: ``lipreading/models/resnet1D.py`` of github.com/mpc001/Lipreading_using_TCN.
SpecAugment: D. Park et al., Interspeech 2019. EfficientNet: M. Tan, Q. Le, ICML 2019 (timm's blocks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial

import torch
import torch.nn.functional as F
from timm.models._efficientnet_builder import decode_arch_def, round_channels
from timm.models.efficientnet import EfficientNet
from torch import nn

from lipreading.models.layers import init_like_reference, make_activation
from lipreading.models.masks import length_mask


def step_mask(lengths: torch.Tensor, steps_per_frame: int, steps: int, dtype: torch.dtype) -> torch.Tensor:
    """(B,) lengths in frames -> (B, 1, steps) mask of the valid steps at ``steps_per_frame``."""
    return length_mask(lengths * steps_per_frame, steps).to(dtype)[:, None, :]


class BasicBlock1D(nn.Module):
    """Two kernel-3 Conv1d + BN with a residual (1x1 conv + BN when the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, activation: str) -> None:
        super().__init__()
        self.stride = stride
        self.conv1 = nn.Conv1d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm1d(out_channels)
        self.act1 = make_activation(activation, out_channels)
        self.conv2 = nn.Conv1d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm1d(out_channels)
        self.act2 = make_activation(activation, out_channels)
        self.downsample = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv1d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm1d(out_channels)
            )

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # mask: (B, 1, L_out) of this block's output resolution
        out = self.act1(self.bn1(self.conv1(x))) * mask
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.downsample(x)) * mask


class ResNet1DFrontend(nn.Module):
    """Raw waveform (B, N) -> (B, T, widths[-1]): strided Conv1d stem, 1D ResNet stages, frame pooling.

    The stem (kernel ``stem_kernel``, stride ``stem_stride``) and the stages (the first at stride 1,
    the others at stride 2) downsample by ``stem_stride * 2**(stages-1)`` (32 for ResNet-18); an
    average pool then takes each frame's steps and ``pool_context`` steps before them, giving exactly one
    vector per video frame. ``layers=(2, 2, 2, 2)`` with widths 64..512, Swish and ``pool_context=0`` is the
    reference's ResNet-18 (``ResNet1D`` with its ``AvgPool1d(20, stride=20)``; 3.85M params).
    """

    def __init__(
        self,
        layers: Sequence[int] = (2, 2, 2, 2),
        widths: Sequence[int] = (64, 128, 256, 512),
        activation: str = "prelu",
        stem_kernel: int = 80,
        stem_stride: int = 4,
        samples_per_frame: int = 640,
        pool_context: int = 1,
    ) -> None:
        super().__init__()
        if len(layers) != len(widths):
            raise ValueError(f"layers {tuple(layers)} and widths {tuple(widths)} need one entry per stage.")
        self.strides = [stem_stride] + [1 if i == 0 else 2 for i in range(len(widths))]
        total = math.prod(self.strides)
        if samples_per_frame % total:
            raise ValueError(f"samples_per_frame={samples_per_frame} is not a multiple of the downsampling {total}")
        self.samples_per_frame = samples_per_frame
        self.stem = nn.Conv1d(1, widths[0], stem_kernel, stride=stem_stride, padding=(stem_kernel - stem_stride) // 2, bias=False)
        self.stem_bn = nn.BatchNorm1d(widths[0])
        self.stem_act = make_activation(activation, widths[0])
        self.stages = nn.ModuleList()
        channels = widths[0]
        for stage, (num_blocks, width) in enumerate(zip(layers, widths)):
            blocks = [BasicBlock1D(channels if i == 0 else width, width, 2 if stage > 0 and i == 0 else 1, activation)
                      for i in range(num_blocks)]
            self.stages.append(nn.ModuleList(blocks))
            channels = width
        steps = samples_per_frame // total
        if not 0 <= pool_context <= steps // 2:
            raise ValueError(f"pool_context={pool_context} must be between 0 and {steps // 2} (half a frame's {steps} steps)")
        # NOTE: pool_context=1 (the default, kernel steps + 1, padding 1) lets each frame's average see one
        # step of the frame before; the reference pools each frame's own steps (pool_context=0). T frames out.
        self.pool = nn.AvgPool1d(steps + pool_context, stride=steps, padding=pool_context)
        self.output_dim = channels
        init_like_reference(self)

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        per_step = self.samples_per_frame // self.strides[0]
        x = audio[:, None, :]  # (B, N) -> (B, 1, N)
        frames = audio.shape[1] // self.samples_per_frame
        mask = step_mask(lengths, per_step, frames * per_step, x.dtype)
        x = self.stem_act(self.stem_bn(self.stem(x)))[..., : mask.shape[-1]] * mask  # -> (B, C, N/4)
        for stage in self.stages:
            for block in stage:
                per_step //= block.stride
                mask = step_mask(lengths, per_step, frames * per_step, x.dtype)
                x = block(x, mask)  # -> (B, C', L / stride)
        return self.pool(x).transpose(1, 2)  # (B, D, T*steps) -> (B, D, T) -> (B, T, D)


def mel_filterbank(num_mels: int, n_fft: int, sample_rate: int, f_min: float = 0.0, f_max: float | None = None) -> torch.Tensor:
    """Triangular mel filters (HTK mel scale, unnormalised), (n_fft // 2 + 1, num_mels)."""
    f_max = f_max or sample_rate / 2

    def to_mel(f: torch.Tensor) -> torch.Tensor:
        return 2595.0 * torch.log10(1.0 + f / 700.0)

    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges_mel = torch.linspace(float(to_mel(torch.tensor(f_min))), float(to_mel(torch.tensor(f_max))), num_mels + 2)
    edges = 700.0 * (10 ** (edges_mel / 2595.0) - 1.0)  # (M + 2,) Hz
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - lower[None, :]) / (centre - lower)[None, :]
    falling = (upper[None, :] - bins[:, None]) / (upper - centre)[None, :]
    return torch.clamp(torch.minimum(rising, falling), min=0.0)


class LogMel(nn.Module):
    """(B, N) waveform -> (B, num_mels, N / hop) log-mel power, one frame per ``hop`` samples.

    Frame ``i`` is centred on sample ``i * hop`` (the waveform is zero-padded, not reflected, so a
    clip's frames do not depend on anything beyond its end). Pure torch (no torchaudio).
    """

    def __init__(self, sample_rate: int = 16000, n_fft: int = 400, hop: int = 160, num_mels: int = 80) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        self.register_buffer("filters", mel_filterbank(num_mels, n_fft, sample_rate), persistent=False)

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        frames = audio.shape[1] // self.hop
        padded = F.pad(audio, (self.n_fft // 2, self.n_fft // 2))
        spec = torch.stft(padded.float(), self.n_fft, self.hop, window=self.window, center=False, return_complex=True)
        power = spec[..., :frames].abs().square()  # (B, F, frames)
        mel = torch.einsum("bft,fm->bmt", power, self.filters)
        return torch.log(mel + 1e-6)


class SpecAugment(nn.Module):
    """Frequency and time masking of (B, M, F) features in training (Park et al., 2019); identity in eval."""

    def __init__(self, freq_masks: int = 2, freq_width: int = 10, time_masks: int = 2, time_width: int = 8) -> None:
        super().__init__()
        self.freq_masks, self.freq_width, self.time_masks, self.time_width = freq_masks, freq_width, time_masks, time_width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x
        batch, mels, frames = x.shape
        keep = torch.ones(batch, mels, frames, dtype=torch.bool, device=x.device)
        for count, width, axis, size in ((self.freq_masks, self.freq_width, 1, mels), (self.time_masks, self.time_width, 2, frames)):
            index = torch.arange(size, device=x.device)[None, :]
            for _ in range(count):
                span = torch.randint(0, width + 1, (batch, 1), device=x.device)
                start = (torch.rand(batch, 1, device=x.device) * (size - span + 1)).long()
                hit = (index >= start) & (index < start + span)  # (B, size)
                keep &= ~(hit[:, :, None] if axis == 1 else hit[:, None, :])
        return x * keep


# EfficientNet-B0 (Tan & Le 2019, Table 1) in timm's block strings (see models/frontends/efficientnet.py).
EFFICIENTNET_B0_STAGES = (
    "ds_r1_k3_s1_e1_c16_se0.25",
    "ir_r2_k3_s2_e6_c24_se0.25",
    "ir_r2_k5_s2_e6_c40_se0.25",
    "ir_r3_k3_s2_e6_c80_se0.25",
    "ir_r3_k5_s1_e6_c112_se0.25",
    "ir_r4_k5_s2_e6_c192_se0.25",
    "ir_r1_k3_s1_e6_c320_se0.25",
)


class LogMelEfficientNetFrontend(nn.Module):
    """Waveform (B, N) -> log-mel -> SpecAugment -> one 2D EfficientNet pass per video frame -> (B, T, D).

    Each video frame sees the log-mel frames of its 40 ms and ``context`` mel frames on each side
    (an image of ``num_mels x (hops_per_frame + 2 * context)``), normalised per clip over its valid
    frames. The trunk is timm's ``EfficientNet`` built from ``stages`` scaled by ``width_mult`` /
    ``depth_mult`` (B0: 1.0 / 1.0, 4.0M params).
    NOTE: per-frame windows (as the visual frontends' per-frame 2D CNN) rather than one 2D pass over
    the whole spectrogram, so that the output is at exactly 25 fps whatever the trunk's strides.
    """

    def __init__(
        self,
        stages: Sequence[str] = EFFICIENTNET_B0_STAGES,
        width_mult: float = 1.0,
        depth_mult: float = 1.0,
        stem_channels: int = 32,
        head_channels: int = 1280,
        num_mels: int = 80,
        hop: int = 160,
        context: int = 8,
        samples_per_frame: int = 640,
        sample_rate: int = 16000,
        spec_augment: SpecAugment | None = None,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if samples_per_frame % hop:
            raise ValueError(f"hop={hop} must divide samples_per_frame={samples_per_frame}")
        self.samples_per_frame, self.hop, self.context = samples_per_frame, hop, context
        self.hops_per_frame = samples_per_frame // hop
        self.log_mel = LogMel(sample_rate, 400, hop, num_mels)
        self.spec_augment = spec_augment or nn.Identity()
        scale = partial(round_channels, multiplier=width_mult)
        self.trunk = EfficientNet(
            block_args=decode_arch_def([[row] for row in stages], depth_mult),
            num_classes=0,
            num_features=scale(head_channels),
            stem_size=scale(stem_channels),
            in_chans=1,
            round_chs_fn=scale,
            drop_path_rate=drop_path_rate,
        )
        self.output_dim = self.trunk.num_features

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        batch, frames = audio.shape[0], audio.shape[1] // self.samples_per_frame
        pad = self.context * self.hop
        mel = self.log_mel(F.pad(audio, (pad, pad)))  # (B, N) -> (B, M, N/hop + 2*context)
        valid = step_mask(lengths, self.hops_per_frame, mel.shape[-1] - 2 * self.context, mel.dtype)
        valid = F.pad(valid, (self.context, self.context))  # (B, 1, mel frames)
        count = (valid.sum(-1, keepdim=True) * mel.shape[1]).clamp(min=1)
        mean = (mel * valid).sum((1, 2), keepdim=True) / count
        std = (((mel - mean) * valid).square().sum((1, 2), keepdim=True) / count).sqrt().clamp(min=1e-5)
        mel = self.spec_augment((mel - mean) / std)
        size = self.hops_per_frame + 2 * self.context
        windows = mel.unfold(2, size, self.hops_per_frame)[:, :, :frames]  # (B, M, T, size)
        x = windows.permute(0, 2, 1, 3).reshape(batch * frames, 1, mel.shape[1], size)  # -> (B*T, 1, M, size)
        return self.trunk(x).reshape(batch, frames, -1)  # (B*T, D) -> (B, T, D)
