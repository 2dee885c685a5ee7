"""Attention LSTM decoder: the speller of "Listen, Attend and Spell" (Chan et al., ICASSP 2016) as
used for lipreading by "Watch, Listen, Attend and Spell" (Chung et al., CVPR 2017), with
multi-head attention (Vaswani et al., 2017) over the encoder's frames in place of one head.

Each step: the previous token's embedding and the previous context feed an LSTM; its state
queries the encoder frames; state and context predict the next token. NOTE: the attention is
content-based only (no location term), which suffices for short sentences.
"""

from __future__ import annotations

import torch
from torch import nn

from lipreading.models.masks import padding_mask

State = dict[str, torch.Tensor]


class AttentionLSTMDecoder(nn.Module):
    """(B, T, input_dim) memory + (B, L) input tokens -> (B, L, vocab_size) logits."""

    def __init__(
        self,
        input_dim: int,
        vocab_size: int,
        embed_dim: int = 128,
        hidden_dim: int = 256,
        num_layers: int = 1,
        num_heads: int = 4,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.cells = nn.ModuleList(
            [nn.LSTMCell(embed_dim + hidden_dim if i == 0 else hidden_dim, hidden_dim) for i in range(num_layers)]
        )
        self.memory_proj = nn.Linear(input_dim, hidden_dim)
        self.attention = nn.MultiheadAttention(hidden_dim, num_heads, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Sequential(nn.Linear(2 * hidden_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, vocab_size))
        self.hidden_dim = hidden_dim

    def init_state(self, memory: torch.Tensor, memory_lengths: torch.Tensor) -> State:
        """Decoding state before the first token (batch first, so beam search can reorder it)."""
        batch = memory.shape[0]
        zeros = memory.new_zeros(batch, len(self.cells), self.hidden_dim)
        return {
            "memory": self.memory_proj(memory),  # (B, T, D) -> (B, T, H)
            "padding": padding_mask(memory_lengths, memory.shape[1]),  # (B, T)
            "h": zeros, "c": zeros.clone(), "context": memory.new_zeros(batch, self.hidden_dim),
        }

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """(N,) previous tokens -> (N, vocab_size) logits of the next one, and the new state."""
        x = torch.cat([self.dropout(self.embed(tokens)), state["context"]], dim=-1)  # (N, E + H)
        hs, cs = [], []
        for i, cell in enumerate(self.cells):
            h, c = cell(x, (state["h"][:, i], state["c"][:, i]))
            hs.append(h)
            cs.append(c)
            x = self.dropout(h)
        query = h[:, None, :]  # (N, 1, H)
        context, _ = self.attention(query, state["memory"], state["memory"],
                                    key_padding_mask=state["padding"], need_weights=False)
        context = context[:, 0]  # (N, 1, H) -> (N, H)
        logits = self.output(self.dropout(torch.cat([h, context], dim=-1)))
        new_state = {**state, "h": torch.stack(hs, 1), "c": torch.stack(cs, 1), "context": context}
        return logits, new_state

    def forward(self, memory: torch.Tensor, memory_lengths: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, L, V) for the input tokens (B, L) (``<bos>`` first)."""
        state = self.init_state(memory, memory_lengths)
        logits = []
        for t in range(tokens.shape[1]):
            step_logits, state = self.step(tokens[:, t], state)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)
