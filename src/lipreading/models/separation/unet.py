"""A 2-D U-Net over a spectrogram, conditioned at its bottleneck on a per-frame feature sequence.

After VisualVoice (R. Gao and K. Grauman, "VisualVoice: Audio-Visual Speech Separation with
Cross-Modal Consistency", CVPR 2021; reference: github.com/facebookresearch/VisualVoice,
``models/audioVisual_models.py``): convolutions with stride 2 in frequency down to a narrow
bottleneck, where the visual features, tiled over frequency, join the audio features.
NOTE: deviations for CPU training and variable lengths: 3x3 convolutions (stride 2 in frequency at
every level, in time at the levels in ``time_strides``) instead of 4x4 transposed pairs; nearest
upsampling + 3x3 convolution in the decoder; a dilated temporal convolution stack over the fused
bottleneck (VisualVoice concatenates and convolves once); the condition also modulates every decoder
level (FiLM); and every layer's output is zeroed beyond a clip's valid frames, so that padding never
changes a clip's result. ``fusion_attention`` adds self-attention layers over the fused audio-visual
bottleneck (pre-norm Transformer encoder layers, Vaswani et al. 2017, padded steps masked out as
keys), which the seed system's authors tried over their fused features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from lipreading.models.masks import length_mask


def time_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """(B,) valid frame counts -> (B, 1, 1, T) float mask."""
    return length_mask(lengths, frames).float()[:, None, None, :]


class _ConvBlock(nn.Module):
    """3x3 convolution, batch norm, leaky ReLU; ``stride`` is (frequency, time)."""

    def __init__(self, in_channels: int, out_channels: int, stride: tuple[int, int] = (1, 1)) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class _TemporalBlock(nn.Module):
    """Residual dilated 1-D convolution over the bottleneck's time axis (padding zeroed first)."""

    def __init__(self, channels: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm1d(channels)
        self.act = nn.PReLU(channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return x + self.dropout(self.act(self.bn(self.conv(x * mask))))


class ConditionedUNet(nn.Module):
    """(B, C_in, F, T) spectrogram features, (B, D, T_b) condition -> (B, C_out, F, T).

    ``channels[i]`` is the width of encoder level ``i``; each level halves the frequency axis and,
    where ``time_strides[i]`` is 2, the time axis. ``F`` must be divisible by ``2 ** len(channels)``.
    The condition, one vector per bottleneck step (:meth:`bottleneck_steps`), and the flattened bottleneck are
    projected to ``bottleneck_dim`` and mixed by ``temporal_layers`` dilated convolutions
    (dilation 1, 2, 4, ...), then by ``fusion_attention`` self-attention layers of ``attention_heads``
    heads (0: none). ``condition_dim=0`` builds an unconditioned (audio-only) network.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        num_frequencies: int = 256,
        channels: Sequence[int] = (16, 32, 64, 128, 128),
        time_strides: Sequence[int] = (1, 2, 1, 2, 1),
        condition_dim: int = 0,
        bottleneck_dim: int = 256,
        temporal_layers: int = 4,
        dropout: float = 0.1,
        fusion_attention: int = 0,
        attention_heads: int = 4,
    ) -> None:
        super().__init__()
        if fusion_attention < 0:
            raise ValueError(f"fusion_attention={fusion_attention} must be 0 (none) or a number of layers")
        if fusion_attention and bottleneck_dim % attention_heads:
            raise ValueError(f"bottleneck_dim={bottleneck_dim} must be a multiple of attention_heads={attention_heads}")
        if len(time_strides) != len(channels):
            raise ValueError(f"time_strides {tuple(time_strides)} needs one entry per level of channels {tuple(channels)}")
        if num_frequencies % 2 ** len(channels):
            raise ValueError(f"{num_frequencies} frequency bins do not halve {len(channels)} times; use a multiple of {2 ** len(channels)}")
        self.time_strides = tuple(time_strides)
        self.time_factor = 1
        for stride in time_strides:
            self.time_factor *= stride
        self.encoder = nn.ModuleList()
        previous = in_channels
        for width, stride in zip(channels, time_strides):
            self.encoder.append(_ConvBlock(previous, width, stride=(2, stride)))
            previous = width
        bottleneck_frequencies = num_frequencies // 2 ** len(channels)
        flat = channels[-1] * bottleneck_frequencies
        self.bottleneck_in = nn.Conv1d(flat + condition_dim, bottleneck_dim, 1)
        self.temporal = nn.ModuleList(_TemporalBlock(bottleneck_dim, 2**i, dropout) for i in range(temporal_layers))
        self.attention = nn.ModuleList(
            nn.TransformerEncoderLayer(bottleneck_dim, attention_heads, 2 * bottleneck_dim, dropout, batch_first=True, norm_first=True)
            for _ in range(fusion_attention)
        )
        self.bottleneck_out = nn.Conv1d(bottleneck_dim, flat, 1)
        self.condition_dim = condition_dim
        # Decoder level i upsamples level i+1's output to level i's size and joins encoder level i.
        self.decoder = nn.ModuleList()
        # With a condition, every decoder level is also modulated by it (FiLM: a per-step scale and
        # shift of each channel, E. Perez et al., AAAI 2018), so that the layers that shape the masks
        # see which voice the condition points at, not only the bottleneck. Zero-initialised: the
        # modulation starts as the identity.
        self.films = nn.ModuleList()
        self.level_factors = []  # each decoder level's time steps per bottleneck step
        below = channels[-1]
        for level in reversed(range(len(channels) - 1)):
            width = channels[level]
            self.decoder.append(_ConvBlock(below + width, width))
            if condition_dim:
                film = nn.Conv1d(condition_dim, 2 * width, 1)
                nn.init.zeros_(film.weight)
                nn.init.zeros_(film.bias)
                self.films.append(film)
            factor = 1
            for stride in time_strides[level + 1 :]:
                factor *= stride
            self.level_factors.append(factor)
            below = width
        # The last level back to the input's frequency resolution: a transposed (2, 1) convolution.
        self.head = nn.ConvTranspose2d(below, out_channels, (2, 1), stride=(2, 1))

    def _attend(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Self-attention over the valid bottleneck steps: (B, D, T_b), mask (B, 1, T_b) -> (B, D, T_b)."""
        padding = mask[:, 0] == 0  # (B, T_b), True where padded
        x = (h * mask).transpose(1, 2)  # (B, D, T_b) -> (B, T_b, D)
        for layer in self.attention:
            # NOTE: the keys beyond a clip are masked and its padded steps zeroed after each layer; a clip
            # without valid steps would have no keys, so its mask is lifted (its output is zeroed anyway).
            x = layer(x, src_key_padding_mask=padding & ~padding.all(1, keepdim=True)) * mask.transpose(1, 2)
        return x.transpose(1, 2)

    def bottleneck_steps(self, frames: int) -> int:
        """The bottleneck's time steps for an input of ``frames`` steps (each covers ``time_factor``)."""
        return -(-frames // self.time_factor)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, condition: torch.Tensor | None = None) -> torch.Tensor:
        frames = x.shape[-1]
        pad = -frames % self.time_factor
        x = F.pad(x, (0, pad)).contiguous(memory_format=torch.channels_last)  # time to a multiple of the total stride; channels-last: faster CPU convolutions
        skips, valid = [], lengths
        for block, stride in zip(self.encoder, self.time_strides):
            valid = torch.div(valid + stride - 1, stride, rounding_mode="floor")  # ceil
            x = block(x)  # (B, C, F, T) -> (B, C', F/2, ceil(T/s))
            x = x * time_mask(valid, x.shape[-1])
            skips.append((x, valid))
        batch, channels, frequencies, steps = x.shape
        mask = time_mask(valid, steps)[:, 0]  # (B, 1, T_b)
        features = x.reshape(batch, channels * frequencies, steps)  # (B, C, F_b, T_b) -> (B, C*F_b, T_b)
        if self.condition_dim:
            if condition is None:
                raise ValueError("this network is conditioned (condition_dim > 0); pass its condition sequence")
            features = torch.cat([features, condition], dim=1)
        h = self.bottleneck_in(features)
        for block in self.temporal:
            h = block(h, mask)
        if len(self.attention):
            h = self._attend(h, mask)
        x = (self.bottleneck_out(h).reshape(batch, channels, frequencies, steps) + x) * mask[:, None]
        levels = zip(self.decoder, reversed(skips[:-1]), reversed(self.time_strides[1:]), self.level_factors)
        for i, (block, (skip, skip_valid), stride, factor) in enumerate(levels):
            # Each step repeated (2 in frequency, the level's stride in time), cut to the skip's length:
            # step t of a level always comes from step t // stride below it, whatever the padding.
            x = x.repeat_interleave(2, dim=2).repeat_interleave(stride, dim=3)[..., : skip.shape[-1]]
            x = block(torch.cat([x, skip], dim=1))
            if self.films:
                scale, shift = self.films[i](condition).repeat_interleave(factor, dim=2)[..., : skip.shape[-1]].chunk(2, dim=1)
                x = x * (1 + scale[:, :, None]) + shift[:, :, None]  # (B, C, T) over every frequency
            x = x * time_mask(skip_valid, skip.shape[-1])
        return self.head(x)[..., :frames]  # (B, C_out, F, T)
