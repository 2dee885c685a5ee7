"""The embedded synthetic word dataset (the project's default): a rendered mouth saying LRW words.

Public API: :func:`default_vocabulary`, :func:`homophene_groups`, :func:`generate_word_dataset`
and, to drive the same mouth from any phoneme timeline, :func:`render_timeline`.
``python -m lipreading.data.synthetic --help`` previews clips and lists homophenes.
"""

from .mouth import MOUTH_PARAMETERS, Scene, Speaker, mouth_trajectory, render_timeline
from .visemes import (
    VISEME_CLASSES,
    default_vocabulary,
    homophene_groups,
    lrw_words,
    pronunciation,
    viseme_string,
)
from .words import generate_word_dataset, make_word_clip

__all__ = [
    "MOUTH_PARAMETERS",
    "VISEME_CLASSES",
    "Scene",
    "Speaker",
    "default_vocabulary",
    "generate_word_dataset",
    "homophene_groups",
    "lrw_words",
    "make_word_clip",
    "mouth_trajectory",
    "pronunciation",
    "render_timeline",
    "viseme_string",
]
