"""Token language model over the sentence units, for shallow fusion in the beam search.

An LSTM LM (Mikolov et al., "Recurrent neural network based language model", Interspeech 2010;
Sundermeyer et al., "LSTM Neural Networks for Language Modeling", Interspeech 2012), the kind of
token LM that ESPnet's ``lm/default.py`` (``DefaultRNNLM``) trains for shallow fusion (Gulcehre et
al., "On Using Monolingual Corpora in Neural Machine Translation", 2015) and that Auto-AVSR's
decoding can add (``espnet/nets/scorers``). It reads ``<bos> y1 .. yL`` and predicts
``y1 .. yL <eos>``; being causal, its outputs at a sentence's own positions never depend on the
padding after it. ``init_state`` / ``step`` give the next-token logits one step at a time, with a
batch-first state so the beam search can reorder hypotheses (as the decoders' do).
"""

from __future__ import annotations

import torch
from torch import nn

State = dict[str, torch.Tensor]


class LSTMLanguageModel(nn.Module):
    """(B, L) tokens -> (B, L, vocab_size) next-token logits."""

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 128,
        hidden_dim: int = 256,
        num_layers: int = 2,
        dropout: float = 0.1,
        *,
        blank_id: int,
        bos_id: int,
        eos_id: int,
    ) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.blank_id, self.bos_id, self.eos_id = blank_id, bos_id, eos_id
        self.num_layers, self.hidden_dim = num_layers, hidden_dim
        self.embed = nn.Embedding(vocab_size, embed_dim)
        self.lstm = nn.LSTM(embed_dim, hidden_dim, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.output = nn.Linear(hidden_dim, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (B, L, V) of the token after each input token (``<bos>`` first)."""
        x, _ = self.lstm(self.dropout(self.embed(tokens)))  # (B, L) -> (B, L, E) -> (B, L, H)
        return self.output(self.dropout(x))  # (B, L, H) -> (B, L, V)

    def init_state(self, batch: int, device: torch.device) -> State:
        """The state before ``<bos>`` for ``batch`` hypotheses: (N, layers, H) each, batch first."""
        zeros = torch.zeros(batch, self.num_layers, self.hidden_dim, device=device)
        return {"h": zeros, "c": zeros.clone()}

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """(N,) previous tokens -> (N, vocab_size) logits of the next one, and the new state."""
        hidden = (state["h"].transpose(0, 1).contiguous(), state["c"].transpose(0, 1).contiguous())  # (layers, N, H)
        x, (h, c) = self.lstm(self.embed(tokens)[:, None], hidden)  # (N,) -> (N, 1, E) -> (N, 1, H)
        return self.output(x[:, 0]), {"h": h.transpose(0, 1), "c": c.transpose(0, 1)}
