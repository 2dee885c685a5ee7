"""What an importer of another implementation's checkpoint hands to the import command.

Each format's module (``tcn_reference``, ``auto_avsr``) has one function ``path -> ForeignModel``; the command
(:mod:`lipreading.run.import_checkpoint`) composes our config from :attr:`ForeignModel.overrides` and the user's,
builds our network, fills it with :attr:`ForeignModel.map_onto` and writes our checkpoint with the record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from lipreading.data.tokenizer import Units
from lipreading.utils.errors import CheckpointError


class Report(Protocol):
    """What a key map did (entries, tensors, duplicates, parameters), for the log and the record."""

    def summary(self) -> str: ...


@dataclass(frozen=True)
class ForeignModel:
    """A foreign checkpoint read and recognised, ready to be mapped onto the network our config builds."""

    format: str  # the registry's name, e.g. "tcn_reference"
    description: str  # what the file was recognised as, e.g. "the zoo's snv05x_tcn1x"
    overrides: tuple[str, ...]  # our config for it (model=..., data=..., modality=...), before the user's
    map_onto: Callable[[nn.Module], tuple[dict[str, torch.Tensor], Report]]  # our network -> its state dict
    vocabulary: tuple[str, ...] | None = None  # word models: class index -> word, in the foreign order
    units: Units | None = None  # sentence models: the foreign units (tokenizer)
    input: Mapping[str, Any] = field(default_factory=dict)  # the record's input fields the config cannot give


def load_foreign_file(path: Path, what: str, error: type[CheckpointError], download_hint: str) -> Any:
    """What a foreign checkpoint file holds, on the CPU (only tensors and plain containers are unpickled,
    ``weights_only``); a missing or unreadable file raises ``error`` naming it (``what``: e.g. "reference
    checkpoint"; ``download_hint``: where it comes from, e.g. "download it from the model zoo of URL")."""
    if not path.is_file():
        raise error(f"{what} {path} not found; {download_hint}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure to unpickle means a damaged or foreign file
        raise error(
            f"{path} is not a readable PyTorch checkpoint ({type(e).__name__}: {str(e).splitlines()[0]}); "
            "it may be truncated (download it again) or hold Python objects other than tensors"
        ) from e
