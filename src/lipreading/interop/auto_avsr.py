"""Auto-AVSR's released visual speech recognition checkpoints mapped onto ``model=resnet18_conformer_transformer``.

Paper: P. Ma, A. Haliassos, A. Fernandez-Lopez, H. Chen, S. Petridis, M. Pantic, "Auto-AVSR: Audio-visual speech
recognition with automatic labels", ICASSP 2023. Reference implementation: github.com/mpc001/auto_avsr (read at
commit 182b628, Apache-2.0), whose ``espnet/nets/pytorch_backend/e2e_asr_conformer.py`` ``E2E(5049, "video")`` is
the model of its VSR checkpoints (``vsr_trlrs3_base.pth``: 36.0% LRS3 test WER in its README;
``vsr_trlrs3vox2_base.pth``: 24.6%; ``vsr_trlrs2lrs3vox2avsp_base.pth``: 20.3%). Those files are bare state dicts
(its ``lightning.py`` does ``model.load_state_dict(torch.load(path))``); their key names and shapes are kept as data
in ``listings/auto_avsr_vsr.txt`` (listed from its code; never weights).

The key map is explicit: :data:`KEY_MAP` gives, part by part, a regular expression over Auto-AVSR's names and the
name of the same tensor in our network; its Transformer decoder keeps the query, key and value projections apart
(``linear_q/k/v``) where ours (``nn.MultiheadAttention``) holds them as the rows of one ``in_proj_weight``, so three
of its entries fill one of ours, in that order. :func:`map_auto_avsr_state_dict` checks that every entry of the
file finds a place, that every tensor of our network is filled exactly once and that the shapes agree, and names
the first entry that does not fit.

The units are Auto-AVSR's SentencePiece model with its units list (``spm/unigram/unigram5000.model`` and
``unigram5000_units.txt`` of its repository): the checkpoint holds neither, so they are read from beside it
(:func:`find_units`) and travel in our checkpoint's record.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from lipreading.data.tokenizer import SentencePieceUnits, Units
from lipreading.interop.foreign import ForeignModel, load_foreign_file
from lipreading.models.backends.conformer import AUTO_AVSR_NAMES
from lipreading.utils.errors import CheckpointError

log = logging.getLogger(__name__)

AUTO_AVSR_COMMIT = "182b62837773ab01052d4ac21ef1d2203ea7d267"
AUTO_AVSR_URL = "https://github.com/mpc001/auto_avsr"
LISTING = "auto_avsr_vsr"  # listings/<LISTING>.txt
UNITS_MODEL, UNITS_LIST = "unigram5000.model", "unigram5000_units.txt"  # its spm/unigram/ files
UNITS_FOLDERS = (".", "spm/unigram")  # where, relative to the checkpoint's folder, the units are looked for
FRAME_SIZE = 96  # the side of the mouth crops its preparation scripts write (preparation/preprocess_lrs2lrs3.py)
# Our config for its checkpoints: its recipe (model, data layout, units, decoding: beam 40, CTC weight 0.1) on the
# default trainer (the recipe's is trainer=gpu; an import needs none, and fine-tuning picks its own).
OVERRIDES = ("experiment=lrs3_auto_avsr", "trainer=default")


class AutoAVSRCheckpointError(CheckpointError):
    """A file that is not one of Auto-AVSR's VSR checkpoints, or one that does not fit the network it is mapped onto."""


class ListedTensor(NamedTuple):
    """One entry of Auto-AVSR's state dict as the listing records it."""

    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype


@functools.cache
def auto_avsr_listing(name: str = LISTING) -> tuple[ListedTensor, ...]:
    """The key names, shapes and dtypes of Auto-AVSR's VSR checkpoints (or of another ``listings/<name>.txt``:
    ``cnvsrc_vsr``, its CNVSRC forks'), in their state dict's order."""
    text = resources.files(__package__).joinpath(f"listings/{name}.txt").read_text(encoding="utf-8")
    listed = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, shape, dtype = line.split()
        dims = () if shape == "scalar" else tuple(int(n) for n in shape.split("x"))
        listed.append(ListedTensor(key, dims, getattr(torch, dtype)))
    return tuple(listed)


# --- reading a file ------------------------------------------------------------------------------------------


def read_auto_avsr_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of an Auto-AVSR checkpoint file, on the CPU (tensors only are unpickled)."""
    path = Path(path)
    loaded = load_foreign_file(path, "Auto-AVSR checkpoint", AutoAVSRCheckpointError, f"download it from {AUTO_AVSR_URL}")
    return auto_avsr_state_dict(loaded, source=str(path))


def auto_avsr_state_dict(loaded: Any, source: str = "the Auto-AVSR checkpoint") -> dict[str, torch.Tensor]:
    """The state dict of a loaded Auto-AVSR checkpoint: a bare ``E2E`` state dict (``module.`` prefixes stripped).

    Lightning checkpoints of its training (``{'state_dict': {'model.frontend...': ...}}``) are accepted too: the
    ``model.`` prefix of its ``ModelModule`` is stripped.
    """
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = {k[len("model."):]: v for k, v in loaded["state_dict"].items() if k.startswith("model.")}
    if not isinstance(loaded, Mapping) or not loaded or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        found = ", ".join(sorted(map(str, loaded))[:5]) if isinstance(loaded, Mapping) else type(loaded).__name__
        raise AutoAVSRCheckpointError(
            f"{source} is not an Auto-AVSR checkpoint: expected a state dict of tensors, found {found or 'nothing'}"
        )
    if all(k.startswith("module.") for k in loaded):
        loaded = {k[len("module."):]: v for k, v in loaded.items()}
    if "frontend.frontend3D.0.weight" not in loaded or "encoder.after_norm.weight" not in loaded:
        hint = " (it is an audio model: only the VSR models are supported)" if "frontend.trunk.conv1.weight" in loaded else ""
        raise AutoAVSRCheckpointError(
            f"{source} is not one of Auto-AVSR's VSR checkpoints: it lacks frontend.frontend3D.0.weight or "
            f"encoder.after_norm.weight{hint}"
        )
    return dict(loaded)


# --- the key map ------------------------------------------------------------------------------------------------


class Place(NamedTuple):
    """Where an entry of Auto-AVSR's state dict goes: our key, and its part when several entries fill it."""

    key: str
    part: int = 0  # position along dim 0 (q, k, v of an attention: 0, 1, 2)
    parts: int = 1


KeyRule = tuple[str, Callable[[re.Match[str]], Place]]
RESNET_BLOCKS = 2  # BasicBlocks per ResNet-18 layer; our trunk.0 is the stem's max-pool, trunk.1.. the blocks


def _trunk_block(m: re.Match[str]) -> int:
    """Our trunk position of Auto-AVSR's ``trunk.layer<layer>.<b>``."""
    return 1 + RESNET_BLOCKS * (int(m["layer"]) - 1) + int(m["b"])


def _encoder_rules() -> tuple[KeyRule, ...]:
    """Auto-AVSR's encoder names -> ours, from the Conformer backend's own name table."""
    rules: list[KeyRule] = []
    for ours, theirs in AUTO_AVSR_NAMES.items():
        pattern = re.escape(theirs).replace(r"\.N\.", r"\.(?P<n>\d+)\.")
        target = "backend." + ours.replace(".N.", ".{n}.")
        if ours.endswith(("content_bias", "position_bias")):  # parameters of their own, not modules
            rules.append((pattern, lambda m, t=target: Place(t.format(n=m["n"]))))
        else:
            rules.append((pattern + r"\.(?P<p>\w+)", lambda m, t=target: Place(t.format(n=m.groupdict().get("n")) + "." + m["p"])))
    return tuple(rules)


_DEC = r"decoder\.decoders\.(?P<n>\d+)"
_QKV = {"q": 0, "k": 1, "v": 2}
_ATTENTION = {"self_attn": "self_attn", "src_attn": "multihead_attn"}  # theirs -> our nn.TransformerDecoderLayer's
_DECODER_LAYER = {"norm1": "norm1", "norm2": "norm2", "norm3": "norm3", "feed_forward.w_1": "linear1",
                  "feed_forward.w_2": "linear2"}

KEY_MAP: tuple[KeyRule, ...] = (
    # Visual frontend (Conv3dResNet): 3D stem Conv3d, BatchNorm3d at 0, 1 in both (Swish and max-pool hold no
    # weights); ResNet-18 layer1..4 of BasicBlocks -> our trunk.1..8
    (r"frontend\.frontend3D\.(?P<i>[01])\.(?P<p>\w+)", lambda m: Place(f"frontend.stem.{m['i']}.{m['p']}")),
    (r"frontend\.trunk\.layer(?P<layer>[1-4])\.(?P<b>[01])\.(?P<p>(?:conv|bn)[12]\.\w+|downsample\.[01]\.\w+)",
     lambda m: Place(f"frontend.trunk.{_trunk_block(m)}.{m['p']}")),
    # proj_encoder + ConformerEncoder -> our ConformerBackend (its input projection, blocks, final norm)
    *_encoder_rules(),
    # Transformer decoder (ESPnet's, pre-norm) -> our TransformerDecoder (nn.TransformerDecoder inside)
    (r"decoder\.embed\.0\.weight", lambda m: Place("decoder.embed.weight")),
    (r"decoder\.after_norm\.(?P<p>\w+)", lambda m: Place(f"decoder.layers.norm.{m['p']}")),
    (r"decoder\.output_layer\.(?P<p>\w+)", lambda m: Place(f"decoder.output.{m['p']}")),
    (_DEC + r"\.(?P<a>self_attn|src_attn)\.linear_(?P<x>[qkv])\.(?P<p>weight|bias)",
     lambda m: Place(f"decoder.layers.layers.{m['n']}.{_ATTENTION[m['a']]}.in_proj_{m['p']}", _QKV[m["x"]], 3)),
    (_DEC + r"\.(?P<a>self_attn|src_attn)\.linear_out\.(?P<p>weight|bias)",
     lambda m: Place(f"decoder.layers.layers.{m['n']}.{_ATTENTION[m['a']]}.out_proj.{m['p']}")),
    (_DEC + r"\.(?P<l>norm[123]|feed_forward\.w_[12])\.(?P<p>weight|bias)",
     lambda m: Place(f"decoder.layers.layers.{m['n']}.{_DECODER_LAYER[m['l']]}.{m['p']}")),
    # CTC head
    (r"ctc\.ctc_lo\.(?P<p>weight|bias)", lambda m: Place(f"ctc_head.{m['p']}")),
)


def auto_avsr_place(key: str) -> Place | None:
    """Where Auto-AVSR's entry ``key`` goes in our network (None: no rule names it)."""
    for pattern, place in KEY_MAP:
        m = re.fullmatch(pattern, key)
        if m:
            return place(m)
    return None


@dataclass(frozen=True)
class MappingReport:
    """What :func:`map_auto_avsr_state_dict` did, for the import's log."""

    entries: int  # entries of Auto-AVSR's state dict
    tensors: int  # tensors of ours filled: one per entry of our state dict
    joined: int  # our tensors filled from several entries (the decoder's q, k, v projections)
    parameters: int  # our network's parameters

    def summary(self) -> str:
        return (f"{self.entries} Auto-AVSR entries -> {self.tensors} tensors of ours ({self.joined} joined from "
                f"their q/k/v projections), {self.parameters:,} parameters")


def map_auto_avsr_state_dict(
    state: Mapping[str, Any], net: nn.Module
) -> tuple[dict[str, torch.Tensor], MappingReport]:
    """Our ``net``'s state dict (for a strict ``net.load_state_dict``) from an Auto-AVSR checkpoint's.

    Every entry of ``state`` is used once, every tensor of ``net`` is filled once, with its shape; tensors take
    our dtype. :class:`AutoAVSRCheckpointError` names the first entry (or tensor of ours) that does not fit.
    """
    state = auto_avsr_state_dict(state)
    ours = net.state_dict()
    gathered: dict[str, dict[int, tuple[str, torch.Tensor]]] = {}
    expected_parts: dict[str, int] = {}
    for key, tensor in state.items():
        place = auto_avsr_place(key)
        if place is None:
            raise _misfit(f"{key} (shape {tuple(tensor.shape)}) has no place in our network: no rule of the key map names it")
        if place.key not in ours:
            raise _misfit(f"{key} maps to {place.key}, which our network lacks (is it model=resnet18_conformer_transformer?)")
        parts = gathered.setdefault(place.key, {})
        if place.part in parts:
            raise _misfit(f"{key} and {parts[place.part][0]} both map to {place.key}")
        parts[place.part] = (key, tensor)
        expected_parts[place.key] = place.parts
    mapped: dict[str, torch.Tensor] = {}
    for key, target in ours.items():
        parts = gathered.get(key)
        if parts is None:
            raise _misfit(f"our {key} (shape {tuple(target.shape)}) is filled by no entry of the file")
        if sorted(parts) != list(range(expected_parts[key])):
            names = ", ".join(name for name, _ in parts.values())
            raise _misfit(f"our {key} needs {expected_parts[key]} entries (q, k, v) but the file has only {names}")
        pieces = [parts[i][1] for i in range(expected_parts[key])]
        tensor = torch.cat(pieces, 0) if len(pieces) > 1 else pieces[0]
        if tuple(tensor.shape) != tuple(target.shape):
            names = " + ".join(parts[i][0] for i in range(expected_parts[key]))
            raise _misfit(f"{names} has shape {tuple(tensor.shape)} but our {key} has {tuple(target.shape)}")
        mapped[key] = tensor.to(target.dtype)
    report = MappingReport(
        entries=len(state), tensors=len(mapped), joined=sum(n > 1 for n in expected_parts.values()),
        parameters=sum(p.numel() for p in net.parameters()),
    )
    return mapped, report


def _misfit(problem: str) -> AutoAVSRCheckpointError:
    return AutoAVSRCheckpointError(
        f"{problem}; Auto-AVSR's VSR checkpoints map onto model=resnet18_conformer_transformer with 5,049 units "
        f"(the listing {LISTING}.txt holds their names and shapes)"
    )


# --- the units --------------------------------------------------------------------------------------------------


def find_units(path: str | Path) -> SentencePieceUnits:
    """Auto-AVSR's units (its ``unigram5000.model`` with ``unigram5000_units.txt``) from beside checkpoint ``path``.

    Looked for in the checkpoint's folder, then in its ``spm/unigram/`` (a copy or link of Auto-AVSR's folder).
    """
    folder = Path(path).parent
    for where in UNITS_FOLDERS:
        model, units_list = folder / where / UNITS_MODEL, folder / where / UNITS_LIST
        if model.is_file() and units_list.is_file():
            return SentencePieceUnits.from_files(model, units_list)
    raise AutoAVSRCheckpointError(
        f"{path}: Auto-AVSR's units are not beside it: copy {UNITS_MODEL} and {UNITS_LIST} from its repository's "
        f"spm/unigram/ ({AUTO_AVSR_URL}) into {folder} (or link that folder as {folder / 'spm' / 'unigram'})"
    )


# --- the import command's entry ---------------------------------------------------------------------------------


def checked_outputs(state: Mapping[str, torch.Tensor], units: Units, path: str | Path, error: type[Exception],
                    units_named: str, hint: str = "") -> int:
    """The number of units the CTC head of ``state`` (Auto-AVSR's names) predicts, which must be ``len(units)``."""
    outputs = int(state["ctc.ctc_lo.weight"].shape[0])
    if outputs != len(units):
        raise error(f"{path} predicts {outputs} units but the units beside it ({units_named}) have {len(units)}: "
                    f"use the units the checkpoint was trained with{hint}")
    return outputs


def auto_avsr_foreign_model(format: str, description: str, overrides: tuple[str, ...], state: dict[str, torch.Tensor],
                            units: Units, preparation: str) -> ForeignModel:
    """A network of Auto-AVSR's structure (``state`` under its names) as the import command takes it;
    ``preparation``: the URL of the preprocessing its inputs need."""
    return ForeignModel(
        format=format,
        description=description,
        overrides=overrides,
        map_onto=lambda net: map_auto_avsr_state_dict(state, net),
        units=units,
        input={"frame_size": FRAME_SIZE, "preprocessing": {"reference": preparation}},
    )


def import_auto_avsr(path: str | Path) -> ForeignModel:
    """An Auto-AVSR VSR checkpoint with its units: our config for it (``experiment=lrs3_auto_avsr``) and its key map."""
    state = read_auto_avsr_checkpoint(path)
    units = find_units(path)
    outputs = checked_outputs(state, units, path, AutoAVSRCheckpointError, f"{UNITS_MODEL} + {UNITS_LIST}")
    return auto_avsr_foreign_model("auto_avsr", f"Auto-AVSR's VSR model ({len(state)} entries, {outputs} units)",
                                   OVERRIDES, state, units, f"{AUTO_AVSR_URL}/tree/{AUTO_AVSR_COMMIT}/preparation")
