"""Files in the format of the CNVSRC baselines' VSR checkpoints, from their key listing and random tensors (never weights).

As tests/helpers/auto_avsr.py: the listing (src/lipreading/interop/listings/cnvsrc_vsr.txt) gives the names and their
order, a small network of ours the shapes. Their names are Auto-AVSR's but for the frontend and the projection
(``encoder.frontend.*``, ``encoder.embed.0.*``); the right-to-left decoder (``r_decoder.*``, left out by the import)
gets the shapes of the decoder entries of the same name.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lipreading.data.tokenizer import CharListUnits
from lipreading.interop.cnvsrc import CHAR_UNITS, LISTING, RENAMED, RIGHT_TO_LEFT
from tests.helpers.auto_avsr import auto_avsr_state

CHARACTERS = "我们今天在学校习唇语识别他她上课唱歌年好的是不了人有这个中大来"


def write_char_units(folder: Path, characters: str = CHARACTERS) -> CharListUnits:
    """A units list in the baselines' char_units.txt format (``<unk> 1``, then ``CHAR ID``) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["<unk> 1", *(f"{c} {n}" for n, c in enumerate(characters, start=2))]
    (folder / CHAR_UNITS).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return CharListUnits.from_file(folder / CHAR_UNITS)


def auto_avsr_name(name: str) -> str:
    """The Auto-AVSR name of one of their entries (``r_decoder.*`` read as ``decoder.*``)."""
    if name.startswith(RIGHT_TO_LEFT):
        return name[2:]
    for theirs, auto_avsr in RENAMED:
        if name.startswith(theirs):
            return auto_avsr + name[len(theirs):]
    return name


def cnvsrc_state(net: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under their names, in their order, shaped for ``net`` (entries beyond the small network left out)."""
    return auto_avsr_state(net, seed, LISTING, auto_avsr_name)
