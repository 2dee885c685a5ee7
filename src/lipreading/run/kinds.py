"""What each kind of checkpoint does under eval.py, infer.py and export.py: one entry per kind.

As audiocraft's solver builders map a name to a class, :data:`REGISTRY` maps a record's ``kind``
to its functions, each ``(cfg, checkpoint) -> result``; adding a kind is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from omegaconf import DictConfig

from lipreading.run import language_model, sentence_export, sentences, separation, separation_conditions, word_export, words
from lipreading.run.checkpoint import Checkpoint
from lipreading.utils.errors import CheckpointError

KindFunction = Callable[[DictConfig, Checkpoint], Any]


@dataclass(frozen=True)
class Kind:
    """The functions of one kind of checkpoint."""

    evaluate: KindFunction  # eval.py: metrics.json and the reports, on a split
    infer: KindFunction  # infer.py: one video
    export: KindFunction  # export.py: a deployable file


REGISTRY: dict[str, Kind] = {
    "word": Kind(words.evaluate_words, words.infer_words, word_export.export_words),
    "sentence": Kind(sentences.evaluate_sentences, sentences.infer_sentences, sentence_export.export_sentences),
    "separation": Kind(separation_conditions.evaluate, separation.infer_separation, separation.refuse_export),
    "language_model": Kind(language_model.evaluate_language_model, language_model.refuse, language_model.refuse),
}


def kind_of(checkpoint: Checkpoint) -> Kind:
    """The functions of ``checkpoint``'s kind; :class:`CheckpointError` naming the known kinds otherwise."""
    if checkpoint.kind not in REGISTRY:
        raise CheckpointError(f"{checkpoint.path} is a {checkpoint.kind!r} checkpoint, which this version cannot "
                              f"evaluate, infer or export; known kinds: {', '.join(REGISTRY)}")
    return REGISTRY[checkpoint.kind]
