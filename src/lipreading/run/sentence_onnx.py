"""Greedy decoding of an exported sentence model with ONNX Runtime alone (no PyTorch model).

``export.py`` writes a sentence checkpoint as a directory (:mod:`lipreading.run.sentence_export`):
``encoder.onnx`` (video, lengths -> the encoder's frames, the CTC head's log-probabilities and the
decoder's first state), ``decoder_step.onnx`` (one token and a state -> the next token's logits and
the next state; models with a decoder) and ``sentence_model.json`` (the units, their special ids, the
state's names, the input the model expects). :class:`OnnxSentenceModel` runs the two graphs as the
PyTorch model decodes (:func:`lipreading.models.decoders.search.greedy_decode`, :func:`ctc_greedy`):
a deployment can read this module as the reference of what to do around the graphs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lipreading.data.tokenizer import Units, units_from_dict
from lipreading.models.decoders.search import ctc_greedy
from lipreading.run.word_export import onnx_session
from lipreading.utils.errors import UserError

ENCODER_FILE, STEP_FILE, DESCRIPTION_FILE = "encoder.onnx", "decoder_step.onnx", "sentence_model.json"
GREEDY_METHODS = ("greedy", "ctc_greedy")


class ExportedModelError(UserError):
    """An exported sentence model directory that is incomplete or unreadable."""


class OnnxSentenceModel:
    """The exported sentence model in ``directory``: ``decode`` / ``transcribe`` a batch of clips.

    Inputs as the PyTorch model's: ``video`` float32 ``(B, C, T, H, W)`` after the evaluation
    transform (centre crop, ``(x/255 - mean) / std``), ``lengths`` int64 ``(B,)``.
    """

    def __init__(self, directory: str | Path, threads: int = 0) -> None:
        self.directory = Path(directory)
        description = self.directory / DESCRIPTION_FILE
        try:
            self.description: dict[str, Any] = json.loads(description.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ExportedModelError(f"{description}: not readable ({e}); export the checkpoint again with "
                                     "`python export.py ckpt=... output=DIR`") from e
        self.units: Units = units_from_dict(self.description["units"], str(description))
        self.state_names: list[str] = list(self.description["decoder_state"])
        self.has_ctc = bool(self.description["ctc"])
        self.has_decoder = bool(self.description["decoder"])
        self.encoder = onnx_session(self.directory / ENCODER_FILE, threads)
        self.step = onnx_session(self.directory / STEP_FILE, threads) if self.has_decoder else None
        self.encoder_outputs = [o.name for o in self.encoder.get_outputs()]

    def encode(self, video: np.ndarray, lengths: np.ndarray) -> dict[str, np.ndarray]:
        """The encoder graph's outputs by name: ``memory``, ``ctc_log_probs``, ``state.<name>``."""
        values = self.encoder.run(None, {"video": np.ascontiguousarray(video, np.float32),
                                         "lengths": np.asarray(lengths, np.int64)})
        return dict(zip(self.encoder_outputs, values))

    def decode(self, video: np.ndarray, lengths: np.ndarray, method: str = "greedy",
               max_length: int = 100) -> list[list[int]]:
        """Token ids of each clip: ``greedy`` (the decoder's, or CTC's without one) or ``ctc_greedy``."""
        if method not in GREEDY_METHODS:
            raise ValueError(f"unknown decoding method {method!r} for an exported model; valid: {', '.join(GREEDY_METHODS)}")
        encoded = self.encode(video, lengths)
        if method == "ctc_greedy" or not self.has_decoder:
            if not self.has_ctc:
                raise ValueError("ctc_greedy decoding needs a CTC head; this model has none")
            return ctc_greedy(torch.from_numpy(encoded["ctc_log_probs"]), torch.from_numpy(np.asarray(lengths)), self.units.blank_id)
        return self._greedy(encoded, min(max_length, encoded["memory"].shape[1]))

    def _greedy(self, encoded: dict[str, np.ndarray], max_length: int) -> list[list[int]]:
        """Argmax token by token until ``<eos>`` (or ``max_length`` tokens), the whole batch at once."""
        state = {name: encoded[f"state.{name}"] for name in self.state_names}
        batch = encoded["memory"].shape[0]
        tokens = np.full(batch, self.units.bos_id, dtype=np.int64)
        done = np.zeros(batch, dtype=bool)
        out: list[list[int]] = [[] for _ in range(batch)]
        for _ in range(max_length):
            values = self.step.run(None, {"tokens": tokens, **{f"state.{k}": v for k, v in state.items()}})
            logits, state = values[0], dict(zip(self.state_names, values[1:]))
            tokens = logits.argmax(-1).astype(np.int64)
            for b in np.flatnonzero(~done):
                if int(tokens[b]) != self.units.eos_id:
                    out[b].append(int(tokens[b]))
            done |= tokens == self.units.eos_id
            if done.all():
                break
        return out

    def transcribe(self, video: np.ndarray, lengths: np.ndarray, method: str = "greedy", max_length: int = 100) -> list[str]:
        """The decoded text of each clip."""
        return [self.units.decode(ids) for ids in self.decode(video, lengths, method, max_length)]
