"""The CNVSRC baselines' released Mandarin VSR checkpoints mapped onto ``model=resnet18_conformer_transformer``.

The CNVSRC (Chinese Continuous Visual Speech Recognition Challenge) baselines are forks of Auto-AVSR
(:mod:`lipreading.interop.auto_avsr`): github.com/MKT-Dataoceanai/CNVSRC2023Baseline (read at 91f85db),
github.com/sectum1919/CNVSRC2024Baseline (3464e7c) and github.com/liu12366262626/CNVSRC2025 ``VSR/`` (e5c4454; the
2024 code unchanged). Their model is ESPnet's ``e2e_asr_transformer.py`` ``E2E`` with ``transformer_input_layer:
conv3d``: Auto-AVSR's network (3D stem + ResNet-18, Linear 512->768, a 12-block Conformer of width 768, a 6-block
Transformer decoder, a CTC head) under other names: the visual frontend sits inside the encoder
(``encoder.frontend.*`` for Auto-AVSR's ``frontend.*``) and the projection is the encoder's ``embed.0``
(``encoder.embed.0.*`` for ``proj_encoder.*``); every other name is Auto-AVSR's. The 2024 and 2025 models also hold a
3-block right-to-left decoder (``r_decoder.*``) that only their training loss uses (``mtlbeta`` 0.3; their beam search
scores ``decoder`` and ``ctc`` alone): it is left out of the import (counted in the log). Their files are bare state
dicts (``lightning.py``: ``self.model.load_state_dict(ckpt)``); the 2024 file's names and shapes are kept as data in
``listings/cnvsrc_vsr.txt`` (listed from its code; never weights). After the renaming, Auto-AVSR's key map
(:func:`map_auto_avsr_state_dict`) places every tensor and names the first that does not fit (by its Auto-AVSR name).

Units (the checkpoints hold none; read from beside the file, :func:`find_cnvsrc_units`): 2024/2025 one character a
unit, ``datamodule/char_units.txt`` (4,470 outputs, :class:`CharListUnits`); 2023 a Chinese SentencePiece model,
``spm/unigram/unigram5000.model`` with ``unigram5000_units.txt`` (5,906 outputs).
Reported CER (their READMEs): 2023 48.60% (Single eval) / 58.37% (Multi eval); 2024 39.66% / 52.20%; 2025 31.55%.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from lipreading.data.tokenizer import CharListUnits, SentencePieceUnits, Units
from lipreading.interop.auto_avsr import AutoAVSRCheckpointError, auto_avsr_foreign_model, auto_avsr_state_dict, checked_outputs
from lipreading.interop.foreign import ForeignModel, load_foreign_file

log = logging.getLogger(__name__)

CNVSRC_URL = "https://github.com/sectum1919/CNVSRC2024Baseline"
LISTING = "cnvsrc_vsr"  # listings/<LISTING>.txt
# Their names -> Auto-AVSR's, by prefix (the only two that differ).
RENAMED = (("encoder.frontend.", "frontend."), ("encoder.embed.0.", "proj_encoder."))
RIGHT_TO_LEFT = "r_decoder."  # the training-only right-to-left decoder of the 2024/2025 baselines
CHAR_UNITS = "char_units.txt"  # 2024/2025: datamodule/char_units.txt
SPM_MODEL, SPM_UNITS = "unigram5000.model", "unigram5000_units.txt"  # 2023: spm/unigram/
UNITS_FOLDERS = (".", "datamodule", "spm/unigram")  # where, relative to the checkpoint's folder, units are looked for
OVERRIDES = ("experiment=cnvsrc_conformer", "trainer=default")


class CNVSRCCheckpointError(AutoAVSRCheckpointError):
    """A file that is not one of the CNVSRC baselines' VSR checkpoints, or one that does not fit."""


def cnvsrc_state_dict(loaded: Any, source: str = "the CNVSRC checkpoint") -> tuple[dict[str, torch.Tensor], int]:
    """Its state dict under Auto-AVSR's names, and how many right-to-left decoder entries were left out.

    A bare ``E2E`` state dict, or a Lightning checkpoint of their training (``state_dict`` of ``model.*``);
    ``module.`` prefixes are stripped.
    """
    if isinstance(loaded, Mapping) and isinstance(loaded.get("state_dict"), Mapping):
        loaded = {k[len("model."):]: v for k, v in loaded["state_dict"].items() if k.startswith("model.")}
    if isinstance(loaded, Mapping) and loaded and all(str(k).startswith("module.") for k in loaded):
        loaded = {k[len("module."):]: v for k, v in loaded.items()}
    if not isinstance(loaded, Mapping) or "encoder.frontend.frontend3D.0.weight" not in loaded or "encoder.embed.0.weight" not in loaded:
        hint = " (it is an Auto-AVSR file: use format=auto_avsr)" if isinstance(loaded, Mapping) and "frontend.frontend3D.0.weight" in loaded else ""
        raise CNVSRCCheckpointError(
            f"{source} is not one of the CNVSRC baselines' VSR checkpoints: it lacks encoder.frontend.frontend3D.0.weight "
            f"or encoder.embed.0.weight{hint}"
        )
    renamed, dropped = {}, 0
    for key, tensor in loaded.items():
        if key.startswith(RIGHT_TO_LEFT):
            dropped += 1
            continue
        for theirs, auto_avsr in RENAMED:
            if key.startswith(theirs):
                key = auto_avsr + key[len(theirs):]
                break
        renamed[key] = tensor
    return auto_avsr_state_dict(renamed, source), dropped


def find_cnvsrc_units(path: str | Path) -> Units:
    """The units beside checkpoint ``path``: ``char_units.txt`` (2024/2025), else ``unigram5000.model`` with
    ``unigram5000_units.txt`` (2023), in the checkpoint's folder, its ``datamodule/`` or its ``spm/unigram/``."""
    folder = Path(path).parent
    for where in UNITS_FOLDERS:
        if (folder / where / CHAR_UNITS).is_file():
            return CharListUnits.from_file(folder / where / CHAR_UNITS)
        model, units_list = folder / where / SPM_MODEL, folder / where / SPM_UNITS
        if model.is_file() and units_list.is_file():
            return SentencePieceUnits.from_files(model, units_list, punctuation="remove", uppercase=False)
    raise CNVSRCCheckpointError(
        f"{path}: the baseline's units are not beside it: copy {CHAR_UNITS} from its repository's datamodule/ "
        f"({CNVSRC_URL}; the 2023 baseline: {SPM_MODEL} and {SPM_UNITS} from spm/unigram/) into {folder}"
    )


def import_cnvsrc(path: str | Path) -> ForeignModel:
    """A CNVSRC baseline VSR checkpoint with its units: our config for it (``experiment=cnvsrc_conformer``) and its key map."""
    path = Path(path)
    loaded = load_foreign_file(path, "CNVSRC checkpoint", CNVSRCCheckpointError, f"download it as the README of {CNVSRC_URL} says")
    state, dropped = cnvsrc_state_dict(loaded, str(path))
    units = find_cnvsrc_units(path)
    outputs = checked_outputs(state, units, path, CNVSRCCheckpointError, repr(units),
                              " (2024/2025: char_units.txt, 4,470; 2023: unigram5000, 5,906)")
    if dropped:
        log.info("%s: left out its right-to-left decoder (%d r_decoder.* entries; only their training loss uses it)", path, dropped)
    return auto_avsr_foreign_model(
        "cnvsrc", f"a CNVSRC baseline VSR model ({len(state)} entries used, {dropped} of r_decoder left out, {outputs} units)",
        OVERRIDES, state, units, f"{CNVSRC_URL}/tree/3464e7cbf8282b6da3b0fece8711aa52f91f2c4f/preparation")
