"""The original authors' word models (the Lipreading_using_TCN model zoo) mapped onto our networks.

Papers: B. Martinez, P. Ma, S. Petridis, M. Pantic, "Lipreading using Temporal Convolutional Networks",
ICASSP 2020; P. Ma, B. Martinez, S. Petridis, M. Pantic, "Towards practical lipreading with distilled and
efficient models", ICASSP 2021; P. Ma, Y. Wang, S. Petridis, J. Shen, M. Pantic, "Training strategies for
improved lip-reading", ICASSP 2022. Reference implementation and model zoo:
github.com/mpc001/Lipreading_using_Temporal_Convolutional_Networks (read at commit 0cc99fa), whose
``lipreading/model.py`` ``Lipreading`` is built from ``configs/lrw_*.json``. Its checkpoints are
``torch.save({'model_state_dict': ...})`` files (``lipreading/utils.py:load_model``) named ``.pth`` or ``.pth.tar``.

The key map is explicit: :data:`FRONTEND_KEY_MAP` and :data:`BACKEND_KEY_MAP` give, part by part, a regular
expression over the reference's key names and the name of the same tensor in our network;
:data:`DUPLICATE_KEYS` names the entries that repeat another entry's tensor (the reference's TCN block
registers its layers twice, as ``conv1`` and as ``net.0``). :func:`map_reference_state_dict` checks that every
entry finds a place or is such a repeat (of an equal tensor), that every tensor of our network is filled
exactly once and that the shapes agree; the first entry that does not fit is named, together with the zoo
entry the file looks like. The key names and shapes of every zoo entry are kept as data in
``listings/<entry>.txt`` (never weights): :func:`detect_architecture` compares a file with them.

The import command (``python -m lipreading.run.import_checkpoint format=tcn_reference path=FILE out=OUT.ckpt``)
calls :func:`import_tcn_reference`, which uses these::

    state = read_reference_checkpoint("lrw_resnet18_dctcn_video.pth")
    entry = detect_architecture(state)          # ZOO["resnet18_dctcn_video"]: model=resnet18_dctcn
    net = ...                                   # built from entry.overrides, reference_num_classes(state) classes
    weights, report = map_reference_state_dict(state, net)
    net.load_state_dict(weights)                # strict
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from lipreading.interop.foreign import ForeignModel, load_foreign_file
from lipreading.utils.errors import CheckpointError

log = logging.getLogger(__name__)

LRW_CLASSES = 500  # the zoo's models; LRW_FRAME_SIZE: the side of the reference's stored mouth crops
LRW_FRAME_SIZE = 96
REFERENCE_COMMIT = "0cc99fab046bd959578f2baac52e654746da4825"
REFERENCE_URL = "https://github.com/mpc001/Lipreading_using_Temporal_Convolutional_Networks"
HEAD_KEYS = ("tcn.tcn_output.weight", "tcn.tcn_output.bias")  # the linear classifier: (classes, D), (classes,)


class ReferenceCheckpointError(CheckpointError):
    """A file that is not a reference checkpoint, or one that does not fit the network it is mapped onto."""


@dataclass(frozen=True)
class ZooEntry:
    """One model of the reference's model zoo and the composition of our configs that computes it."""

    name: str  # the reference README's name, e.g. "resnet18_dctcn_video_boundary"
    model: str  # our conf/model/<model>.yaml
    reference_config: str  # the reference's configs/<...>.json
    lrw_accuracy: float  # top-1 on LRW's test set (%), as the reference's README reports it
    modality: str = "video"  # "video" (mouth clips) or "audio" (16 kHz waveform)
    use_boundary: bool = False  # the word-boundary input channel
    # The reference folder whose preprocessing made the inputs it was trained on (its README's Table 1 / 2).
    reference_preprocessing: str = "preprocessing"

    @property
    def overrides(self) -> tuple[str, ...]:
        """The Hydra overrides that compose our network of this entry (``python train.py ...``)."""
        return (
            f"model={self.model}",
            *(("modality=audio",) if self.modality == "audio" else ()),
            *(("data.use_boundary=true",) if self.use_boundary else ()),
        )


ZOO: dict[str, ZooEntry] = {
    entry.name: entry
    for entry in (
        ZooEntry("resnet18_mstcn_video", "resnet18_mstcn", "lrw_resnet18_mstcn.json", 88.9),
        ZooEntry("resnet18_dctcn_video", "resnet18_dctcn", "lrw_resnet18_dctcn.json", 89.6),
        ZooEntry("resnet18_dctcn_video_boundary", "resnet18_dctcn", "lrw_resnet18_dctcn_boundary.json", 92.1,
                 use_boundary=True),
        ZooEntry("snv1x_dsmstcn3x", "shufflenet_dsmstcn", "lrw_snv1x_dsmstcn3x.json", 85.3,
                 reference_preprocessing="legacy_preprocessing"),
        ZooEntry("snv1x_tcn2x", "shufflenet_tcn2x", "lrw_snv1x_tcn2x.json", 84.6,
                 reference_preprocessing="legacy_preprocessing"),
        ZooEntry("snv1x_tcn1x", "shufflenet_tcn", "lrw_snv1x_tcn1x.json", 82.7,
                 reference_preprocessing="legacy_preprocessing"),
        ZooEntry("snv05x_tcn2x", "shufflenet0.5_tcn2x", "lrw_snv05x_tcn2x.json", 82.5,
                 reference_preprocessing="legacy_preprocessing"),
        ZooEntry("snv05x_tcn1x", "shufflenet0.5_tcn", "lrw_snv05x_tcn1x.json", 79.9,
                 reference_preprocessing="legacy_preprocessing"),
        ZooEntry("resnet18_mstcn_audio", "av_resnet18_mstcn", "lrw_resnet18_mstcn.json", 98.9, modality="audio"),
        ZooEntry("resnet18_dctcn_audio", "av_resnet18_dctcn", "lrw_resnet18_dctcn.json", 99.1, modality="audio"),
        ZooEntry("resnet18_dctcn_audio_boundary", "av_resnet18_dctcn", "lrw_resnet18_dctcn_boundary.json", 99.2,
                 modality="audio", use_boundary=True),
    )
}


def zoo_entry(name: str) -> ZooEntry:
    """The zoo entry called ``name``, or an error listing the known ones."""
    if name not in ZOO:
        raise ReferenceCheckpointError(f"unknown reference model {name!r}; the zoo has: {', '.join(ZOO)}")
    return ZOO[name]


@functools.cache
def reference_vocabulary() -> tuple[str, ...]:
    """The reference's class order: LRW's 500 words, sorted (its ``labels/500WordsSortedList.txt``).

    The package holds that list once, as the synthetic words' data file (the same 500 words in the same order).
    """
    text = resources.files("lipreading.data").joinpath("synthetic/lrw500_words.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip())


class ListedTensor(NamedTuple):
    """One entry of a reference state dict as a listing records it."""

    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    same_as: str | None  # the earlier entry holding the same tensor, for a module registered twice


@functools.cache
def reference_listing(name: str) -> tuple[ListedTensor, ...]:
    """The key names, shapes and dtypes of zoo entry ``name``'s state dict (500 classes), in its order."""
    zoo_entry(name)
    text = resources.files(__package__).joinpath(f"listings/{name}.txt").read_text(encoding="utf-8")
    listed = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, shape, dtype, *same = line.split()
        dims = () if shape == "scalar" else tuple(int(n) for n in shape.split("x"))
        listed.append(ListedTensor(key, dims, getattr(torch, dtype), same[1] if same else None))
    return tuple(listed)


# --- reading a file ------------------------------------------------------------------------------------------


def read_reference_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of a reference checkpoint file (``.pth`` or ``.pth.tar``), on the CPU.

    Only tensors and plain containers are unpickled (``weights_only``); see :func:`reference_state_dict`.
    """
    path = Path(path)
    loaded = load_foreign_file(path, "reference checkpoint", ReferenceCheckpointError,
                               f"download it from the model zoo of {REFERENCE_URL}")
    return reference_state_dict(loaded, source=str(path))


def reference_state_dict(loaded: Any, source: str = "the reference checkpoint") -> dict[str, torch.Tensor]:
    """The state dict inside a loaded reference checkpoint.

    Accepts the reference's ``{'model_state_dict': ..., ...}`` (its other entries, such as the optimizer's
    state, are not needed and are left out) and a bare state dict; strips the ``module.`` prefix that
    ``nn.DataParallel`` adds to every key.
    """
    if not isinstance(loaded, Mapping):
        raise ReferenceCheckpointError(f"{source} holds a {type(loaded).__name__}, not a state dict")
    if "model_state_dict" in loaded:
        left_out = sorted(k for k in loaded if k != "model_state_dict")
        if left_out:
            log.info("%s: using model_state_dict, leaving out %s", source, ", ".join(left_out))
        loaded = loaded["model_state_dict"]
        if not isinstance(loaded, Mapping):
            raise ReferenceCheckpointError(f"{source}: model_state_dict holds a {type(loaded).__name__}, not a state dict")
    not_tensors = [k for k, v in loaded.items() if not isinstance(v, torch.Tensor)]
    if not loaded or not_tensors:
        found = ", ".join(sorted(map(str, loaded))[:5]) or "nothing"
        raise ReferenceCheckpointError(
            f"{source} is not a reference checkpoint: expected {{'model_state_dict': ...}} or a state dict of "
            f"tensors, found {found}{' ...' if len(loaded) > 5 else ''}"
        )
    if all(k.startswith("module.") for k in loaded):
        loaded = {k[len("module."):]: v for k, v in loaded.items()}
    return dict(loaded)


def reference_modality(state: Mapping[str, torch.Tensor]) -> str:
    """'audio' for the raw-waveform ResNet (its stem lives in ``trunk``), 'video' for the 3D-conv stem."""
    if "trunk.conv1.weight" in state:
        return "audio"
    if "frontend3D.0.weight" in state:
        return "video"
    raise ReferenceCheckpointError(
        "the state dict has neither the reference's 3D stem (frontend3D.*) nor its audio stem (trunk.conv1.*): "
        "it is not one of the reference's word models"
    )


def reference_num_classes(state: Mapping[str, torch.Tensor]) -> int:
    """The number of classes of the reference's linear head (500 for LRW, 1000 for LRW-1000)."""
    if HEAD_KEYS[0] not in state:
        raise ReferenceCheckpointError(f"the state dict has no {HEAD_KEYS[0]}: it is not one of the reference's word models")
    return int(state[HEAD_KEYS[0]].shape[0])


# --- which zoo entry a file is ---------------------------------------------------------------------------------


def detect_architecture(reference_state: Mapping[str, torch.Tensor]) -> ZooEntry:
    """The zoo entry whose key names and shapes ``reference_state`` has (the head may have any class count).

    NOTE: ReLU and Swish hold no weights, so a file cannot tell them apart: the zoo's ResNet models use Swish
    and its ShuffleNet DS-MS-TCN ReLU, and an entry is named by that.
    """
    state = reference_state_dict(reference_state)
    found = _signature((k, tuple(v.shape)) for k, v in state.items())
    closest: tuple[int, str, str] | None = None
    for name in ZOO:
        expected = _signature((t.name, t.shape) for t in reference_listing(name))
        if found == expected:
            return ZOO[name]
        agreeing = sum(found.get(k) == shape for k, shape in expected.items())
        if closest is None or agreeing > closest[0]:
            closest = (agreeing, name, _first_difference(found, expected))
    _, name, difference = closest
    raise ReferenceCheckpointError(
        f"the state dict matches no entry of the reference's model zoo; the closest is {name} "
        f"({' '.join(ZOO[name].overrides)}), from which it differs first at {difference}"
    )


def _signature(shapes: Iterable[tuple[str, tuple[int, ...]]]) -> dict[str, tuple[int | None, ...]]:
    """key -> shape, the head's class dimension replaced by None (so LRW-1000 models match too)."""
    return {k: ((None, *shape[1:]) if k in HEAD_KEYS else shape) for k, shape in shapes}


def _first_difference(found: dict[str, tuple], expected: dict[str, tuple]) -> str:
    for key, shape in expected.items():
        if key not in found:
            return f"{key} (missing from the file)"
        if found[key] != shape:
            return f"{key} (shape {_shape(found[key])} in the file, {_shape(shape)} in the zoo entry)"
    extra = next(k for k in found if k not in expected)
    return f"{extra} (not in the zoo entry)"


def _shape(shape: tuple) -> str:
    return "(" + ", ".join("classes" if n is None else str(n) for n in shape) + ")"


# --- the key map ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Places:
    """Where our network keeps what a reference key names: the prefixes of our frontends and the positions of
    the reference's blocks in our flat per-frame trunks (position 0 is the stem's max-pool)."""

    video: str  # "frontend." (WordClassifierNet) or "video_frontend." (AudioVisualWordNet)
    audio: str  # "audio_frontend."
    resnet_layer_start: dict[int, int]  # reference ResNet layer 1..4 -> our trunk position of its first block
    shufflenet_units: int  # inverted residual blocks in the reference's ShuffleNet trunk (``trunk.0``)


KeyRule = tuple[str, Callable[[re.Match[str], Places], str]]


def _block(m: re.Match[str], at: Places) -> int:
    """Our trunk position of the reference's ResNet block ``trunk.layer<layer>.<b>``."""
    return at.resnet_layer_start[int(m["layer"])] + int(m["b"])


# The reference's frontend keys -> ours, for each modality (the reference calls both trunks `trunk`).
FRONTEND_KEY_MAP: dict[str, tuple[KeyRule, ...]] = {
    "video": (
        # 3D stem: Conv3d, BatchNorm3d, activation (a PReLU's slopes) at 0, 1, 2 in both; MaxPool3d -> our trunk.0
        (r"frontend3D\.(?P<i>[0-2])\.(?P<p>\w+)", lambda m, at: f"{at.video}stem.{m['i']}.{m['p']}"),
        # ResNet-18: layer1..4 of BasicBlocks -> our trunk.1..8; relu1/relu2 (PReLU) -> act1/act2
        (r"trunk\.layer(?P<layer>\d+)\.(?P<b>\d+)\.relu(?P<n>[12])\.weight",
         lambda m, at: f"{at.video}trunk.{_block(m, at)}.act{m['n']}.weight"),
        (r"trunk\.layer(?P<layer>\d+)\.(?P<b>\d+)\.(?P<p>(?:conv|bn)[12]\.\w+|downsample\.[01]\.\w+)",
         lambda m, at: f"{at.video}trunk.{_block(m, at)}.{m['p']}"),
        # ShuffleNetV2: trunk.0 (inverted residual blocks, `banch` as spelt there; the layers inside are
        # torchvision's, at the same indices) -> our trunk.1..; trunk.1 (conv_last: 1x1 conv, BN) follows them
        (r"trunk\.0\.(?P<unit>\d+)\.banch(?P<n>[12])\.(?P<p>\d+\.\w+)",
         lambda m, at: f"{at.video}trunk.{1 + int(m['unit'])}.branch{m['n']}.{m['p']}"),
        (r"trunk\.1\.(?P<i>[01])\.(?P<p>\w+)",
         lambda m, at: f"{at.video}trunk.{1 + at.shufflenet_units + int(m['i'])}.{m['p']}"),
    ),
    "audio": (
        # raw-waveform ResNet-18: conv1/bn1/relu stem, layer1..4 -> our stages.0..3
        (r"trunk\.conv1\.weight", lambda m, at: f"{at.audio}stem.weight"),
        (r"trunk\.bn1\.(?P<p>\w+)", lambda m, at: f"{at.audio}stem_bn.{m['p']}"),
        (r"trunk\.relu\.weight", lambda m, at: f"{at.audio}stem_act.weight"),
        (r"trunk\.layer(?P<layer>\d+)\.(?P<b>\d+)\.relu(?P<n>[12])\.weight",
         lambda m, at: f"{at.audio}stages.{int(m['layer']) - 1}.{m['b']}.act{m['n']}.weight"),
        (r"trunk\.layer(?P<layer>\d+)\.(?P<b>\d+)\.(?P<p>(?:conv|bn)[12]\.\w+|downsample\.[01]\.\w+)",
         lambda m, at: f"{at.audio}stages.{int(m['layer']) - 1}.{m['b']}.{m['p']}"),
    ),
}

_TCN = r"tcn\.tcn_trunk\.network\.(?P<l>\d+)"  # TCN (one kernel): TemporalBlock
_MSTCN = r"tcn\.mb_ms_tcn\.network\.(?P<l>\d+)"  # MS-TCN and DS-MS-TCN: MultibranchTemporalBlock
_BRANCH = r"\.cbcr(?P<r>[01])_(?P<k>\d+)"  # round r (0: on the input, 1: on round 0's output), kernel k
_DENSE = r"tcn\.tcn_trunk\.features"  # DC-TCN: DenseTemporalConvNet
_LAYER = r"\.denseblock(?P<d>\d+)\.denselayer(?P<j>\d+)"  # dense block d, layer j (both from 1)


def _tcn_conv(m: re.Match[str]) -> str:
    """Our unit of the TCN block's convolution ``conv<n>``: round n - 1, the one kernel's branch."""
    return f"backend.blocks.{m['l']}.branches{int(m['n']) - 1}.0"


def _branch(m: re.Match[str]) -> str:
    """Our unit of the MS-TCN branch ``cbcr<r>_<k>``."""
    return f"backend.blocks.{m['l']}.branches{m['r']}.{m['k']}"


def _dense(m: re.Match[str]) -> str:
    """Our dense layer ``denseblock<d>.denselayer<j>`` (both counted from 1 there)."""
    return f"backend.blocks.{int(m['d']) - 1}.layers.{int(m['j']) - 1}"


BACKEND_KEY_MAP: tuple[KeyRule, ...] = (
    # TCN: the two convolutions of a block are our branches0.0 and branches1.0 (one kernel)
    (_TCN + r"\.conv(?P<n>[12])\.(?P<p>\w+)", lambda m, at: f"{_tcn_conv(m)}.conv.{m['p']}"),
    (_TCN + r"\.batchnorm(?P<n>[12])\.(?P<p>\w+)", lambda m, at: f"{_tcn_conv(m)}.bn.{m['p']}"),
    (_TCN + r"\.relu(?P<n>[12])\.weight", lambda m, at: f"{_tcn_conv(m)}.act.weight"),
    (_TCN + r"\.downsample\.(?P<p>\w+)", lambda m, at: f"backend.blocks.{m['l']}.residual.{m['p']}"),
    (_TCN + r"\.relu\.weight", lambda m, at: f"backend.blocks.{m['l']}.act.weight"),
    # MS-TCN: ConvBatchChompRelu conv / batchnorm / non_lin
    (_MSTCN + _BRANCH + r"\.conv\.(?P<p>weight|bias)", lambda m, at: f"{_branch(m)}.conv.{m['p']}"),
    (_MSTCN + _BRANCH + r"\.batchnorm\.(?P<p>\w+)", lambda m, at: f"{_branch(m)}.bn.{m['p']}"),
    (_MSTCN + _BRANCH + r"\.non_lin\.weight", lambda m, at: f"{_branch(m)}.act.weight"),
    # DS-MS-TCN: its conv is a Sequential (depthwise, BN, chomp, act, pointwise, BN, act)
    *(
        (_MSTCN + _BRANCH + rf"\.conv\.{index}\.(?P<p>\w+)", lambda m, at, ours=ours: f"{_branch(m)}.{ours}.{m['p']}")
        for index, ours in ((0, "depthwise"), (1, "bn1"), (3, "act1"), (4, "pointwise"), (5, "bn2"), (6, "act2"))
    ),
    (_MSTCN + r"\.downsample\.(?P<p>\w+)", lambda m, at: f"backend.blocks.{m['l']}.residual.{m['p']}"),
    (_MSTCN + r"\.relu_final\.weight", lambda m, at: f"backend.blocks.{m['l']}.act.weight"),
    # DC-TCN: transitions (conv, norm, activation), dense layers (SE gates of round 0, TemporalConvLayer's
    # net = conv, BN, chomp, activation), the final norm5
    (_DENSE + r"\.transition(?P<t>\d+)\.conv\.weight", lambda m, at: f"backend.transitions.{m['t']}.0.weight"),
    (_DENSE + r"\.transition(?P<t>\d+)\.norm\.(?P<p>\w+)", lambda m, at: f"backend.transitions.{m['t']}.1.{m['p']}"),
    (_DENSE + r"\.transition(?P<t>\d+)\.prelu\.weight", lambda m, at: f"backend.transitions.{m['t']}.2.weight"),
    (_DENSE + _LAYER + r"\.cbcr0_se_(?P<k>\d+)\.fc\.(?P<fc>[02])\.weight",
     lambda m, at: f"{_dense(m)}.gates0.{m['k']}.fc{1 + int(m['fc']) // 2}.weight"),
    (_DENSE + _LAYER + _BRANCH + r"\.net\.0\.(?P<p>\w+)", lambda m, at: f"{_dense(m)}.branches{m['r']}.{m['k']}.conv.{m['p']}"),
    (_DENSE + _LAYER + _BRANCH + r"\.net\.1\.(?P<p>\w+)", lambda m, at: f"{_dense(m)}.branches{m['r']}.{m['k']}.bn.{m['p']}"),
    (_DENSE + _LAYER + _BRANCH + r"\.net\.3\.weight", lambda m, at: f"{_dense(m)}.branches{m['r']}.{m['k']}.act.weight"),
    (_DENSE + _LAYER + r"\.downsample\.(?P<p>\w+)", lambda m, at: f"{_dense(m)}.residual.{m['p']}"),
    (_DENSE + _LAYER + r"\.relu_final\.weight", lambda m, at: f"{_dense(m)}.act.weight"),
    (_DENSE + r"\.norm\d+\.(?P<p>\w+)", lambda m, at: f"backend.norm.{m['p']}"),
    # the linear head
    (r"tcn\.tcn_output\.(?P<p>weight|bias)", lambda m, at: f"head.{m['p']}"),
)

# The reference's TemporalBlock keeps its layers as attributes and again inside `net` (conv1, batchnorm1,
# chomp1, relu1, dropout1, conv2, ...): net.<i> is the same tensor as the attribute, so it is used once.
_TCN_NET_LAYERS = {"0": "conv1", "1": "batchnorm1", "3": "relu1", "5": "conv2", "6": "batchnorm2", "8": "relu2"}
DUPLICATE_KEYS: tuple[KeyRule, ...] = (
    (_TCN + r"\.net\.(?P<i>[013568])\.(?P<p>\w+)",
     lambda m, at: f"tcn.tcn_trunk.network.{m['l']}.{_TCN_NET_LAYERS[m['i']]}.{m['p']}"),
)


@dataclass(frozen=True)
class MappingReport:
    """What :func:`map_reference_state_dict` did, for the import's log and checkpoint record."""

    reference_entries: int  # entries of the reference's state dict
    tensors: int  # tensors mapped: one per entry of our state dict
    duplicates: tuple[str, ...]  # reference entries that repeat another's tensor (checked equal), used once
    parameters: int  # our network's parameters (the reference's count)
    converted: tuple[str, ...]  # our keys whose tensor changed dtype (e.g. a half-precision file)

    def summary(self) -> str:
        return (
            f"{self.reference_entries} reference entries -> {self.tensors} tensors of ours "
            f"({len(self.duplicates)} duplicate registrations used once), {self.parameters:,} parameters"
            + (f", {len(self.converted)} converted to our dtype" if self.converted else "")
        )


def map_reference_state_dict(
    reference_state: Mapping[str, Any], net: nn.Module
) -> tuple[dict[str, torch.Tensor], MappingReport]:
    """Our ``net``'s state dict (for a strict ``net.load_state_dict``) from a reference checkpoint's.

    ``reference_state`` may be the loaded file itself (``{'model_state_dict': ...}``, ``module.`` prefixes).
    Raises :class:`ReferenceCheckpointError` naming the first entry (in forward order: the 3D stem first) that
    has no place in ``net`` or whose shape differs, a repeated entry that differs from its original, or the
    first tensor of ``net`` that the file does not fill, with the zoo entry the file looks like.
    """
    state = reference_state_dict(reference_state)
    ours = net.state_dict()
    modality = reference_modality(state)
    places = _places(state, ours)
    rules = FRONTEND_KEY_MAP[modality] + BACKEND_KEY_MAP
    mapped: dict[str, torch.Tensor] = {}
    source_of: dict[str, str] = {}
    duplicates, converted = [], []
    for key in sorted(state, key=lambda k: not k.startswith("frontend3D.")):  # stable: the stem, then file order
        original = _apply(DUPLICATE_KEYS, key, places)
        if original is not None:
            if original not in state or not _same_tensor(state[key], state[original]):
                raise _misfit(state, f"{key} should repeat {original} (the reference registers that layer twice), "
                                     "but it " + ("differs" if original in state else "is missing"))
            duplicates.append(key)
            continue
        target = _apply(rules, key, places)
        if target is None:
            raise _misfit(state, f"{key} has no place in our {modality} networks (no rule of the key map matches it)")
        if target not in ours:
            raise _misfit(state, f"{key} (ours would be {target}) has no place in this network")
        if target in source_of:
            raise _misfit(state, f"{key} and {source_of[target]} both map to {target}")
        tensor, expected = state[key], ours[target]
        if tensor.shape != expected.shape:
            raise _misfit(state, f"{key} has shape {tuple(tensor.shape)} "
                                 f"but this network's {target} has {tuple(expected.shape)}")
        if tensor.dtype != expected.dtype:
            converted.append(target)
        mapped[target], source_of[target] = tensor.to(expected.dtype), key
    missing = [k for k in ours if k not in mapped]
    if missing:
        raise _misfit(state, f"this network's {missing[0]} gets no tensor from the file ({len(missing)} of ours missing)")
    report = MappingReport(
        reference_entries=len(state),
        tensors=len(mapped),
        duplicates=tuple(duplicates),
        parameters=sum(p.numel() for p in net.parameters()),
        converted=tuple(converted),
    )
    return {k: mapped[k] for k in ours}, report


def _places(state: Mapping[str, torch.Tensor], ours: Mapping[str, torch.Tensor]) -> Places:
    blocks: dict[int, set[int]] = {}
    units = set()
    for key in state:
        if m := re.match(r"trunk\.layer(\d+)\.(\d+)\.", key):
            blocks.setdefault(int(m[1]), set()).add(int(m[2]))
        elif m := re.match(r"trunk\.0\.(\d+)\.", key):
            units.add(int(m[1]))
    start, position = {}, 1
    for layer in sorted(blocks):
        start[layer], position = position, position + len(blocks[layer])
    video = "video_frontend." if any(k.startswith("video_frontend.") for k in ours) else "frontend."
    return Places(video=video, audio="audio_frontend.", resnet_layer_start=start, shufflenet_units=len(units))


def _apply(rules: tuple[KeyRule, ...], key: str, places: Places) -> str | None:
    """Our key for reference ``key`` by the first rule whose pattern matches it whole; None if none does."""
    for pattern, target in rules:
        if m := re.fullmatch(pattern, key):
            return target(m, places)
    return None


def _same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and (a.data_ptr() == b.data_ptr() or torch.equal(a, b))


def _misfit(state: Mapping[str, torch.Tensor], problem: str) -> ReferenceCheckpointError:
    """The error for a file that does not fit the network, with what the file looks like."""
    try:
        entry = detect_architecture(state)
        hint = f"the file looks like the zoo's {entry.name} ({' '.join(entry.overrides)})"
    except ReferenceCheckpointError as e:
        hint = str(e)
    return ReferenceCheckpointError(f"{problem}; {hint}")


def reference_input(entry: ZooEntry) -> dict[str, Any]:
    """The record's input fields of a zoo entry that our LRW config does not give: the stored crops' side and the
    preprocessing that made them (``roi=tcn_reference``: the reference's alignment; the ShuffleNet entries were
    trained on its older ``legacy_preprocessing``, which that preset approximates)."""
    source = f"{REFERENCE_URL}/tree/{REFERENCE_COMMIT}/{entry.reference_preprocessing}"
    if entry.modality == "audio":
        return {"frame_size": None, "preprocessing": {"reference": source}}
    return {"frame_size": LRW_FRAME_SIZE,
            "preprocessing": {"roi": "tcn_reference", "alignment": "tcn_reference", "crop_size": LRW_FRAME_SIZE,
                              "grayscale": True, "reference": source}}


# --- the import command's entry ---------------------------------------------------------------------------------


def import_tcn_reference(path: str | Path) -> ForeignModel:
    """A reference checkpoint recognised as its zoo entry: our config for it, its class order, its key map.

    Our config: ``data=lrw`` and the entry's overrides (``model=...``, ``modality=audio``,
    ``data.use_boundary=true``), ``data.num_classes`` from the file's head. The vocabulary is the reference's
    label order for LRW's 500 classes; for another class count (LRW-1000) the file does not say it, and it is
    left out (eval.py then takes it from the data).
    """
    state = read_reference_checkpoint(path)
    entry = detect_architecture(state)
    num_classes = reference_num_classes(state)
    vocabulary = reference_vocabulary() if num_classes == LRW_CLASSES else None
    if vocabulary is None:
        log.warning("%s has %d classes, not LRW's %d: its class order is not known here, so the checkpoint records "
                    "no vocabulary (eval.py takes it from the dataset's folders)", path, num_classes, LRW_CLASSES)
    return ForeignModel(
        format="tcn_reference",
        description=f"the zoo's {entry.name} ({num_classes} classes, LRW top-1 {entry.lrw_accuracy}% in its README)",
        overrides=("data=lrw", *entry.overrides, f"data.num_classes={num_classes}"),
        map_onto=lambda net: map_reference_state_dict(state, net),
        vocabulary=vocabulary,
        input=reference_input(entry),
    )
