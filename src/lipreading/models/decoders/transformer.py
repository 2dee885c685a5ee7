"""Transformer decoder (Vaswani et al., 2017) over the encoder's frames, as in the sentence
lipreaders of Afouras et al. ("Deep Audio-Visual Speech Recognition", TPAMI 2018, TM-seq2seq) and
Ma et al. ("Visual speech recognition for multiple languages in the wild", 2022).

Pre-norm layers (``norm_first``), learned token embeddings scaled by ``sqrt(d_model)`` plus
sinusoidal positions, a final LayerNorm and the output layer: the layout of ESPnet's
``TransformerDecoder`` as Auto-AVSR uses it (``espnet/nets/pytorch_backend/decoder/
transformer_decoder.py`` of github.com/mpc001/auto_avsr, ``normalize_before=True``), whose
``self_attn.linear_q/k/v`` are the rows of our ``self_attn.in_proj_weight``. Auto-AVSR's decoder
reads the encoder's frames as they are (``memory_projection=false``) and uses ESPnet's LayerNorm
epsilon (``layer_norm_eps=1e-12``). ``memory_projection="auto"`` projects only when the encoder's width differs
from ``d_model`` (the Auto-AVSR configs use it, so another backend under their decoder still composes).
Incremental decoding re-runs the prefix at every step (no key/value cache): sentences here are
short, and it keeps the module a plain ``nn.TransformerDecoder``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from lipreading.models.decoders.attention_lstm import State
from lipreading.models.masks import padding_mask


def sinusoidal_positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """(length, dim) sinusoidal position encodings."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    encoding = torch.zeros(length, dim, device=device)
    encoding[:, 0::2] = torch.sin(position * frequency)
    encoding[:, 1::2] = torch.cos(position * frequency)[:, : dim // 2]
    return encoding


class TransformerDecoder(nn.Module):
    """(B, T, input_dim) memory + (B, L) input tokens -> (B, L, vocab_size) logits (causal)."""

    def __init__(
        self,
        input_dim: int,
        vocab_size: int,
        d_model: int = 256,
        num_heads: int = 4,
        num_layers: int = 3,
        ffn_dim: int = 1024,
        dropout: float = 0.1,
        memory_projection: bool | str = True,
        layer_norm_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if memory_projection not in (True, False, "auto"):
            raise ValueError(f"memory_projection={memory_projection!r}: use true, false or auto")
        if memory_projection == "auto":
            memory_projection = input_dim != d_model
        if not memory_projection and input_dim != d_model:
            raise ValueError(f"memory_projection=false needs the encoder's width {input_dim} to equal d_model={d_model}")
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.embed = nn.Embedding(vocab_size, d_model)
        self.memory_proj = nn.Linear(input_dim, d_model) if memory_projection else nn.Identity()
        layer = nn.TransformerDecoderLayer(d_model, num_heads, ffn_dim, dropout, layer_norm_eps=layer_norm_eps,
                                           batch_first=True, norm_first=True)
        self.layers = nn.TransformerDecoder(layer, num_layers, norm=nn.LayerNorm(d_model, eps=layer_norm_eps))
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(d_model, vocab_size)

    def _decode(self, memory: torch.Tensor, padding: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        x = self.embed(tokens) * math.sqrt(self.d_model) + sinusoidal_positions(length, self.d_model, tokens.device)
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=tokens.device), diagonal=1)
        x = self.layers(self.dropout(x), memory, tgt_mask=causal, memory_key_padding_mask=padding)
        return self.output(x)  # (B, L, d_model) -> (B, L, V)

    def forward(self, memory: torch.Tensor, memory_lengths: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, L, V) for the input tokens (B, L) (``<bos>`` first)."""
        return self._decode(self.memory_proj(memory), padding_mask(memory_lengths, memory.shape[1]), tokens)

    def init_state(self, memory: torch.Tensor, memory_lengths: torch.Tensor) -> State:
        return {
            "memory": self.memory_proj(memory),
            "padding": padding_mask(memory_lengths, memory.shape[1]),
            "prefix": torch.zeros(memory.shape[0], 0, dtype=torch.long, device=memory.device),
        }

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """(N,) previous tokens -> (N, vocab_size) logits of the next one, and the new state."""
        prefix = torch.cat([state["prefix"], tokens[:, None]], dim=1)
        logits = self._decode(state["memory"], state["padding"], prefix)[:, -1]
        return logits, {**state, "prefix": prefix}
