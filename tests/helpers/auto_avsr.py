"""Files in the format of Auto-AVSR's VSR checkpoints, from its key listing and random tensors (never weights).

The listing (src/lipreading/interop/listings/auto_avsr_vsr.txt) gives the names; a small network of ours gives the
shapes, so that tests import a model of a few megabytes instead of Auto-AVSR's 250M parameters: each listed entry
whose place (``auto_avsr_place``) exists in the small network gets a random tensor of that place's shape (one third
of the rows for the decoder's q, k, v projections).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from lipreading.data.tokenizer import SentencePieceUnits
from lipreading.interop.auto_avsr import LISTING, UNITS_LIST, UNITS_MODEL, auto_avsr_listing, auto_avsr_place

# A small Auto-AVSR model: its layout, our tiny widths (overrides of experiment=lrs3_auto_avsr).
TINY = ["model.frontend.widths=[8,8,16,16]", "model.backend.d_model=32", "model.backend.num_heads=2", "model.backend.ffn_dim=64",
        "model.backend.num_layers=2", "model.backend.conv_kernel_size=7", "model.decoder.d_model=32",
        "model.decoder.num_heads=2", "model.decoder.ffn_dim=64", "model.decoder.num_layers=2"]
SENTENCES = ["WE READ THE BOOK", "THEY READ A BOOK IN THE PARK", "DON'T STOP THE MUSIC", "WE SANG IN THE PARK"] * 4


def write_units(folder: Path) -> SentencePieceUnits:
    """A small SentencePiece model and its units list, named as Auto-AVSR's spm/unigram/ files, in ``folder``."""
    units = SentencePieceUnits.build(SENTENCES, vocab_size=40)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / UNITS_MODEL).write_bytes(units.model)
    pieces = units.tokens[1:-1]  # <unk> first, as Auto-AVSR's list
    (folder / UNITS_LIST).write_text("".join(f"{p} {n}\n" for n, p in enumerate(pieces, start=1)), encoding="utf-8")
    return units


def auto_avsr_state(net: nn.Module, seed: int = 0, listing: str = LISTING,
                    auto_avsr_name: Callable[[str], str] = lambda name: name) -> dict[str, torch.Tensor]:
    """Random tensors under Auto-AVSR's names, in its order, shaped for ``net`` (entries it has no place for are left out).

    Or those of another ``listing`` (a fork's) whose names ``auto_avsr_name`` reads as Auto-AVSR's.
    """
    generator = torch.Generator().manual_seed(seed)
    ours = net.state_dict()
    state = {}
    for listed in auto_avsr_listing(listing):
        place = auto_avsr_place(auto_avsr_name(listed.name))
        if place is None or place.key not in ours:
            continue  # a block beyond the small network's
        shape = list(ours[place.key].shape)
        if place.parts > 1:
            shape[0] //= place.parts
        if listed.dtype == torch.int64:
            state[listed.name] = torch.randint(0, 1000, shape, generator=generator)
        else:
            state[listed.name] = torch.rand(shape, generator=generator) + 0.5  # positive: running variances too
    return state
