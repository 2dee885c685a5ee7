"""Sentence lipreading network: visual frontend -> sequence backend -> CTC head and/or decoder.

The encoder is any frontend (``(B, C, T, H, W), lengths -> (B, T, D)``) followed by any backend
(``(B, T, D), lengths -> (B, T, D')``), kept per frame (not pooled). On top: a linear CTC head
(Graves et al., 2006; LipNet, Assael et al., 2016), an autoregressive decoder (attention LSTM or
Transformer, ``models/decoders``), or both (hybrid CTC/attention, Watanabe et al., 2017).
The special token ids (CTC blank, ``<bos>``, ``<eos>``) are the units' (``lipreading.data.tokenizer``),
passed in by the build step beside the vocabulary size.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from lipreading.models.decoders.search import beam_search, ctc_greedy, greedy_decode
from lipreading.models.masks import zero_padded_frames


class Seq2SeqNet(nn.Module):
    """Encoder with an optional CTC head and an optional decoder (at least one of the two)."""

    def __init__(
        self,
        frontend: nn.Module,
        backend: Callable[..., nn.Module],
        vocab_size: int,
        decoder: Callable[..., nn.Module] | None = None,
        ctc: bool = True,
        dropout: float = 0.0,
        *,
        blank_id: int,
        bos_id: int,
        eos_id: int,
    ) -> None:
        super().__init__()
        if decoder is None and not ctc:
            raise ValueError("a sentence model needs a CTC head (ctc=true), a decoder, or both")
        self.frontend = frontend
        self.backend = backend(input_dim=frontend.output_dim)
        self.dropout = nn.Dropout(dropout)
        self.ctc_head = nn.Linear(self.backend.output_dim, vocab_size) if ctc else None
        self.decoder = decoder(input_dim=self.backend.output_dim, vocab_size=vocab_size) if decoder else None
        self.vocab_size = vocab_size
        self.blank_id, self.bos_id, self.eos_id = blank_id, bos_id, eos_id

    def encode(self, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, C, T, H, W), lengths -> (B, T, D') per-frame features."""
        # Zero the padded frames so a clip's features never depend on its batch (see classifier.py).
        video = zero_padded_frames(video, lengths)  # (B, C, T, H, W), frames beyond each clip zeroed
        features = self.frontend(video, lengths)  # (B, C, T, H, W) -> (B, T, D)
        return self.dropout(self.backend(features, lengths))  # -> (B, T, D')

    def ctc_log_probs(self, memory: torch.Tensor) -> torch.Tensor:
        """(B, T, D') -> (B, T, V) CTC log-probabilities."""
        return self.ctc_head(memory).float().log_softmax(-1)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor, decoder_input: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Encoder memory, CTC log-probs (with a CTC head) and teacher-forced decoder logits (given inputs)."""
        memory = self.encode(video, lengths)
        out = {"memory": memory}
        if self.ctc_head is not None:
            out["ctc_log_probs"] = self.ctc_log_probs(memory)
        if self.decoder is not None and decoder_input is not None:
            out["decoder_logits"] = self.decoder(memory, lengths, decoder_input)  # (B, L, V)
        return out

    @torch.no_grad()
    def decode(
        self,
        video: torch.Tensor,
        lengths: torch.Tensor,
        method: str = "greedy",
        beam_size: int = 5,
        length_penalty: float = 0.0,
        length_bonus: float = 0.0,
        ctc_weight: float = 0.3,
        max_length: int = 100,
        lm: nn.Module | None = None,
        lm_weight: float = 0.0,
    ) -> list[list[int]]:
        """Token ids of each clip. ``method``: ``greedy`` (the decoder's, or CTC's without one),
        ``ctc_greedy``, or ``beam`` (joint with CTC when ``ctc_weight`` > 0 and a CTC head exists;
        shallow fusion with the token language model ``lm`` at ``lm_weight``)."""
        if lm is not None and method != "beam":
            raise ValueError(f"a language model is fused in the beam search only; decoding method={method!r}: use beam")
        memory = self.encode(video, lengths)
        max_length = min(max_length, memory.shape[1])
        if method == "ctc_greedy" or (method == "greedy" and self.decoder is None):
            if self.ctc_head is None:
                raise ValueError("ctc_greedy decoding needs a CTC head; this model has none")
            return ctc_greedy(self.ctc_log_probs(memory), lengths, self.blank_id)
        if method == "greedy":
            return greedy_decode(self.decoder, memory, lengths, self.bos_id, self.eos_id, max_length)
        if method == "beam":
            weight = ctc_weight if self.ctc_head is not None else 0.0
            weight = 1.0 if self.decoder is None else weight
            ctc = self.ctc_log_probs(memory) if weight > 0 else None
            return beam_search(self.decoder, memory, lengths, self.bos_id, self.eos_id, max_length, beam_size,
                               length_penalty, ctc, weight, self.blank_id, length_bonus,
                               lm.to(memory.device) if lm is not None else None, lm_weight)
        raise ValueError(f"unknown decoding method {method!r}; valid: greedy, ctc_greedy, beam")
