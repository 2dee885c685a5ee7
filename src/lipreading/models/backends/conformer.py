"""Conformer encoder backend: macaron feed-forward halves around relative-position self-attention
and a depthwise convolution module.

Paper: A. Gulati et al., "Conformer: Convolution-augmented Transformer for speech recognition",
Interspeech 2020; relative positions of Z. Dai et al., "Transformer-XL", ACL 2019 (Section 3.3 and
Appendix B). As the encoder of P. Ma, A. Haliassos, A. Fernandez-Lopez, H. Chen, S. Petridis,
M. Pantic, "Auto-AVSR: Audio-visual speech recognition with automatic labels", ICASSP 2023.
Reference implementation: ``espnet/nets/pytorch_backend/encoder/conformer_encoder.py`` and
``transformer/{attention,embedding}.py`` of github.com/mpc001/auto_avsr (ESPnet's
``RelPositionMultiHeadedAttention`` and ``RelPositionalEncoding``, ``rel_pos_type=latest``).

One block, pre-norm, each branch added to its input::

    x = x + 1/2 FFN(LN(x))            (macaron half)
    x = x + RelPosMHSA(LN(x))
    x = x + Conv(LN(x))               (pointwise -> GLU -> depthwise k -> BatchNorm -> Swish -> pointwise)
    x = x + 1/2 FFN(LN(x))
    x = LN(x)

The state dict maps one to one onto Auto-AVSR's encoder (``proj_encoder`` + ``encoder``): every
tensor has its counterpart of the same shape, only the names differ (``blocks.N.attention.query``
is ``encoders.N.self_attn.linear_q``; see :data:`AUTO_AVSR_NAMES`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lipreading.models.layers import make_activation
from lipreading.models.masks import length_mask

LAYER_NORM_EPS = 1e-12
"""ESPnet's ``LayerNorm`` epsilon (PyTorch's default is 1e-5)."""

AUTO_AVSR_NAMES = {
    # ours (inside a ConformerBackend) -> Auto-AVSR's E2E (``N`` is the block index)
    "input_projection": "proj_encoder",
    "blocks.N.norm_ff_macaron": "encoder.encoders.N.norm_ff_macaron",
    "blocks.N.ff_macaron.linear1": "encoder.encoders.N.feed_forward_macaron.w_1",
    "blocks.N.ff_macaron.linear2": "encoder.encoders.N.feed_forward_macaron.w_2",
    "blocks.N.norm_attention": "encoder.encoders.N.norm_mha",
    "blocks.N.attention.query": "encoder.encoders.N.self_attn.linear_q",
    "blocks.N.attention.key": "encoder.encoders.N.self_attn.linear_k",
    "blocks.N.attention.value": "encoder.encoders.N.self_attn.linear_v",
    "blocks.N.attention.output": "encoder.encoders.N.self_attn.linear_out",
    "blocks.N.attention.position": "encoder.encoders.N.self_attn.linear_pos",
    "blocks.N.attention.content_bias": "encoder.encoders.N.self_attn.pos_bias_u",
    "blocks.N.attention.position_bias": "encoder.encoders.N.self_attn.pos_bias_v",
    "blocks.N.norm_conv": "encoder.encoders.N.norm_conv",
    "blocks.N.conv.pointwise1": "encoder.encoders.N.conv_module.pointwise_cov1",
    "blocks.N.conv.depthwise": "encoder.encoders.N.conv_module.depthwise_conv",
    "blocks.N.conv.norm": "encoder.encoders.N.conv_module.norm",
    "blocks.N.conv.pointwise2": "encoder.encoders.N.conv_module.pointwise_cov2",
    "blocks.N.norm_ff": "encoder.encoders.N.norm_ff",
    "blocks.N.ff.linear1": "encoder.encoders.N.feed_forward.w_1",
    "blocks.N.ff.linear2": "encoder.encoders.N.feed_forward.w_2",
    "blocks.N.norm_final": "encoder.encoders.N.norm_final",
    "norm": "encoder.after_norm",
}
"""Module names of :class:`ConformerBackend` and of Auto-AVSR's encoder (parameters and buffers
below each keep their names: ``weight``, ``bias``, ``running_mean`` ...)."""


def relative_positions(steps: int, dim: int, device: torch.device) -> torch.Tensor:
    """(1, 2T-1, dim) sinusoidal codes of the relative positions T-1, T-2, ..., 0, ..., -(T-1).

    ESPnet's ``RelPositionalEncoding`` (the "latest" one): position ``r`` is coded as
    ``sin(r w_k)`` at even and ``cos(r w_k)`` at odd channels, ``w_k = 10000^(-2k/dim)``.
    """
    position = torch.arange(steps - 1, -steps, -1, device=device, dtype=torch.float32)[:, None]  # (2T-1, 1)
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * -(math.log(10000.0) / dim))
    code = torch.zeros(2 * steps - 1, dim, device=device)
    code[:, 0::2] = torch.sin(position * frequency)
    code[:, 1::2] = torch.cos(position * frequency)
    return code[None]


def relative_shift(scores: torch.Tensor) -> torch.Tensor:
    """(B, H, T, 2T-1) scores per (query, relative position) -> (B, H, T, T) per (query i, key j).

    Column ``k`` of the input holds relative position ``T-1-k``; the output's ``[i, j]`` is the
    input's ``[i, T-1-i+j]`` (relative position ``i-j``). Transformer-XL's shift: pad one zero
    column on the left, fold, drop the first row (ESPnet's ``rel_shift``).
    """
    b, h, t, width = scores.shape
    padded = torch.cat([scores.new_zeros(b, h, t, 1), scores], dim=-1)  # (B, H, T, 2T)
    padded = padded.view(b, h, width + 1, t)  # the same memory, folded: (B, H, 2T, T)
    return padded[:, :, 1:].reshape(b, h, t, width)[..., : width // 2 + 1]  # -> (B, H, T, T)


class RelativePositionAttention(nn.Module):
    """Multi-head self-attention with Transformer-XL's relative positions (its u and v biases).

    ``scores[i, j] = (q_i + u) . k_j + (q_i + v) . W_p p(i - j)``, divided by ``sqrt(d_head)``;
    padded frames are masked out as keys.
    """

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"d_model={dim} does not divide into num_heads={num_heads} heads")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.output = nn.Linear(dim, dim)
        self.position = nn.Linear(dim, dim, bias=False)
        self.content_bias = nn.Parameter(torch.empty(num_heads, self.head_dim))  # Transformer-XL's u
        self.position_bias = nn.Parameter(torch.empty(num_heads, self.head_dim))  # Transformer-XL's v
        nn.init.xavier_uniform_(self.content_bias)
        nn.init.xavier_uniform_(self.position_bias)
        self.dropout = nn.Dropout(dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], -1, self.num_heads, self.head_dim)  # (B, T, D) -> (B, T, H, d)

    def forward(self, x: torch.Tensor, positions: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """(B, T, D) frames, (1, 2T-1, D) position codes, (B, T) True on padding -> (B, T, D)."""
        q = self._heads(self.query(x))  # (B, T, H, d)
        k = self._heads(self.key(x)).transpose(1, 2)  # (B, H, T, d)
        v = self._heads(self.value(x)).transpose(1, 2)
        p = self._heads(self.position(positions)).transpose(1, 2)  # (1, H, 2T-1, d)
        content = (q + self.content_bias).transpose(1, 2) @ k.transpose(-2, -1)  # (B, H, T, T)
        position = relative_shift((q + self.position_bias).transpose(1, 2) @ p.transpose(-2, -1))  # (B, H, T, T)
        scores = (content + position) / math.sqrt(self.head_dim)
        keys_padded = padding[:, None, None, :]  # (B, 1, 1, T)
        scores = scores.masked_fill(keys_padded, torch.finfo(scores.dtype).min)
        weights = self.dropout(scores.softmax(dim=-1).masked_fill(keys_padded, 0.0))
        context = (weights @ v).transpose(1, 2).reshape(x.shape)  # (B, H, T, d) -> (B, T, D)
        return self.output(context)


class FeedForward(nn.Module):
    """Position-wise feed-forward: Linear -> activation -> dropout -> Linear."""

    def __init__(self, dim: int, hidden_dim: int, dropout: float, activation: str) -> None:
        super().__init__()
        self.linear1 = nn.Linear(dim, hidden_dim)
        self.activation = make_activation(activation, hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


class ConvolutionModule(nn.Module):
    """Pointwise conv -> GLU -> depthwise conv (``kernel_size``) -> BatchNorm -> Swish -> pointwise conv.

    Padded frames are zeroed right before the depthwise convolution, so a clip's frames never see
    the padding after it (the convolution's own zero padding is what a clip alone sees).
    NOTE: Auto-AVSR does not mask here (ESPnet's later versions do): its outputs near a clip's end
    depend on the padding of its batch; on unpadded input the two agree.
    """

    def __init__(self, dim: int, kernel_size: int) -> None:
        super().__init__()
        if kernel_size % 2 == 0:
            raise ValueError(f"conv_kernel_size={kernel_size}: use an odd size (a centred kernel)")
        self.pointwise1 = nn.Conv1d(dim, 2 * dim, 1)
        self.depthwise = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.BatchNorm1d(dim)
        self.activation = nn.SiLU()
        self.pointwise2 = nn.Conv1d(dim, dim, 1)

    def forward(self, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """(B, T, D), (B, T) True on a clip's frames -> (B, T, D)."""
        x = nn.functional.glu(self.pointwise1(x.transpose(1, 2)), dim=1)  # (B, D, T) -> (B, 2D, T) -> (B, D, T)
        x = x.masked_fill(~valid[:, None, :], 0.0)
        x = self.activation(self.norm(self.depthwise(x)))
        return self.pointwise2(x).transpose(1, 2)  # (B, D, T) -> (B, T, D)


class ConformerBlock(nn.Module):
    """Macaron FFN/2, relative-position MHSA, convolution module, FFN/2, final LayerNorm (all pre-norm)."""

    def __init__(
        self, dim: int, num_heads: int, ffn_dim: int, conv_kernel_size: int, dropout: float,
        attention_dropout: float, ffn_activation: str,
    ) -> None:
        super().__init__()
        self.norm_ff_macaron = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.ff_macaron = FeedForward(dim, ffn_dim, dropout, ffn_activation)
        self.norm_attention = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.attention = RelativePositionAttention(dim, num_heads, attention_dropout)
        self.norm_conv = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.conv = ConvolutionModule(dim, conv_kernel_size)
        self.norm_ff = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.ff = FeedForward(dim, ffn_dim, dropout, ffn_activation)
        self.norm_final = nn.LayerNorm(dim, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, positions: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        x = x + 0.5 * self.dropout(self.ff_macaron(self.norm_ff_macaron(x)))
        x = x + self.dropout(self.attention(self.norm_attention(x), positions, ~valid))
        x = x + self.dropout(self.conv(self.norm_conv(x), valid))
        x = x + 0.5 * self.dropout(self.ff(self.norm_ff(x)))
        return self.norm_final(x)


class ConformerBackend(nn.Module):
    """(B, T, input_dim) frame features, lengths -> (B, T, d_model).

    A linear projection to ``d_model`` (Auto-AVSR's ``proj_encoder``; none when the widths are
    equal), the scale ``sqrt(d_model)`` and dropout of ESPnet's ``RelPositionalEncoding`` (which
    also drops out the position codes), ``num_layers`` Conformer blocks and a final LayerNorm.
    Padded frames are masked as attention keys and zeroed before each depthwise convolution and in
    the output, so (with batch-norm in eval mode) they never change a clip's result.
    NOTE: in training mode batch-norm's statistics include the padded frames' (zero) activations,
    as in Auto-AVSR.
    """

    def __init__(
        self,
        input_dim: int,
        d_model: int = 768,
        num_heads: int = 12,
        ffn_dim: int = 3072,
        num_layers: int = 12,
        conv_kernel_size: int = 31,
        dropout: float = 0.1,
        attention_dropout: float = 0.0,
        ffn_activation: str = "relu",
    ) -> None:
        super().__init__()
        self.input_projection = nn.Linear(input_dim, d_model) if input_dim != d_model else nn.Identity()
        self.scale = math.sqrt(d_model)
        self.dropout = nn.Dropout(dropout)
        # NOTE: Auto-AVSR's feed-forward modules use ReLU (its relu_type option is unused);
        # the Conformer paper uses Swish: ffn_activation=swish.
        self.blocks = nn.ModuleList(
            ConformerBlock(d_model, num_heads, ffn_dim, conv_kernel_size, dropout, attention_dropout, ffn_activation)
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model, eps=LAYER_NORM_EPS)
        self.output_dim = d_model

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        valid = length_mask(lengths, x.shape[1])  # (B, T)
        x = self.dropout(self.input_projection(x) * self.scale)  # (B, T, input_dim) -> (B, T, d_model)
        positions = self.dropout(relative_positions(x.shape[1], x.shape[2], x.device).to(x.dtype))
        for block in self.blocks:
            x = block(x, positions, valid)
        return self.norm(x).masked_fill(~valid[..., None], 0.0)
