"""Importing the reference's model zoo (lipreading/interop/tcn_reference.py).

The reference's key names, shapes and repeated registrations come from its listings (data made from the
reference code, never weights); the state dicts here hold random tensors with those names. That the mapped
weights compute the reference's function is proven outside the repository (docs/pretrained.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from lipreading.interop.tcn_reference import (
    ZOO,
    ReferenceCheckpointError,
    detect_architecture,
    map_reference_state_dict,
    read_reference_checkpoint,
    reference_listing,
    reference_num_classes,
    reference_state_dict,
    reference_vocabulary,
    zoo_entry,
)
from lipreading.run.build import unused_streams
from tests.conftest import CONF, compose_config
from tests.helpers.reference_zoo import listed_shapes, listed_state


@pytest.fixture(scope="module")
def build_net(tmp_path_factory):
    """Our network for a zoo entry, composed from conf/train.yaml with data=lrw and the entry's overrides,
    built on the meta device (shapes only: the test assigns the mapped tensors)."""
    out = tmp_path_factory.mktemp("zoo")

    def build(name: str, *extra: str) -> torch.nn.Module:
        cfg = compose_config("train", ["data=lrw", *zoo_entry(name).overrides, *extra], out)
        with torch.device("meta"):
            return instantiate(cfg.model, **unused_streams(cfg))

    return build


# Pairs a rule could confuse (same shapes elsewhere in the network), checked by value: reference -> ours.
PLACES = {
    "resnet18_mstcn_video": {
        "frontend3D.0.weight": "frontend.stem.0.weight",
        "frontend3D.1.running_var": "frontend.stem.1.running_var",
        "trunk.layer1.1.conv2.weight": "frontend.trunk.2.conv2.weight",
        "trunk.layer3.0.downsample.1.running_mean": "frontend.trunk.5.downsample.1.running_mean",
        "trunk.layer4.1.conv1.weight": "frontend.trunk.8.conv1.weight",
        "tcn.mb_ms_tcn.network.2.cbcr1_2.conv.bias": "backend.blocks.2.branches1.2.conv.bias",
        "tcn.mb_ms_tcn.network.3.cbcr0_1.batchnorm.weight": "backend.blocks.3.branches0.1.bn.weight",
        "tcn.tcn_output.weight": "head.weight",
    },
    "resnet18_dctcn_video_boundary": {
        "tcn.tcn_trunk.features.transition0.conv.weight": "backend.transitions.0.0.weight",
        "tcn.tcn_trunk.features.transition0.prelu.weight": "backend.transitions.0.2.weight",
        "tcn.tcn_trunk.features.transition3.norm.bias": "backend.transitions.3.1.bias",
        "tcn.tcn_trunk.features.denseblock4.denselayer3.cbcr0_se_2.fc.2.weight": "backend.blocks.3.layers.2.gates0.2.fc2.weight",
        "tcn.tcn_trunk.features.denseblock2.denselayer1.cbcr1_0.net.0.weight": "backend.blocks.1.layers.0.branches1.0.conv.weight",
        "tcn.tcn_trunk.features.denseblock1.denselayer2.downsample.bias": "backend.blocks.0.layers.1.residual.bias",
        "tcn.tcn_trunk.features.norm5.running_var": "backend.norm.running_var",
    },
    "snv1x_dsmstcn3x": {
        "trunk.0.4.banch2.3.weight": "frontend.trunk.5.branch2.3.weight",
        "trunk.0.15.banch2.6.running_var": "frontend.trunk.16.branch2.6.running_var",
        "trunk.1.1.bias": "frontend.trunk.18.bias",
        "tcn.mb_ms_tcn.network.1.cbcr0_1.conv.0.weight": "backend.blocks.1.branches0.1.depthwise.weight",
        "tcn.mb_ms_tcn.network.1.cbcr1_2.conv.4.weight": "backend.blocks.1.branches1.2.pointwise.weight",
        "tcn.mb_ms_tcn.network.3.cbcr1_0.conv.5.bias": "backend.blocks.3.branches1.0.bn2.bias",
    },
    "snv05x_tcn2x": {
        "frontend3D.2.weight": "frontend.stem.2.weight",
        "trunk.0.0.banch1.2.weight": "frontend.trunk.1.branch1.2.weight",
        "tcn.tcn_trunk.network.1.conv1.weight": "backend.blocks.1.branches0.0.conv.weight",
        "tcn.tcn_trunk.network.1.conv2.weight": "backend.blocks.1.branches1.0.conv.weight",
        "tcn.tcn_trunk.network.2.relu2.weight": "backend.blocks.2.branches1.0.act.weight",
        "tcn.tcn_trunk.network.3.relu.weight": "backend.blocks.3.act.weight",
        "tcn.tcn_trunk.network.0.downsample.weight": "backend.blocks.0.residual.weight",
    },
    "resnet18_dctcn_audio_boundary": {
        "trunk.conv1.weight": "audio_frontend.stem.weight",
        "trunk.bn1.running_mean": "audio_frontend.stem_bn.running_mean",
        "trunk.layer2.0.downsample.0.weight": "audio_frontend.stages.1.0.downsample.0.weight",
        "trunk.layer4.1.bn2.weight": "audio_frontend.stages.3.1.bn2.weight",
        "tcn.tcn_trunk.features.transition0.conv.weight": "backend.transitions.0.0.weight",
    },
}


@pytest.mark.parametrize("name", ZOO)
def test_every_zoo_entry_maps_strictly_onto_the_network_of_its_config(build_net, name: str) -> None:
    state, listing = listed_state(name), reference_listing(name)
    net = build_net(name)
    weights, report = map_reference_state_dict({"model_state_dict": state}, net)
    net.load_state_dict(weights, strict=True, assign=True)
    distinct = {t.name for t in listing if t.same_as is None}
    assert report.reference_entries == len(listing) and report.tensors == len(distinct) == len(net.state_dict())
    assert len({(w.data_ptr(), w.shape) for w in weights.values()}) == len(weights)  # every tensor used once
    assert set(report.duplicates) == {t.name for t in listing if t.same_as}
    loaded = net.state_dict()
    for reference_key, our_key in PLACES.get(name, {}).items():
        assert torch.equal(loaded[our_key], state[reference_key]), (reference_key, our_key)


def test_the_ShuffleNet_TCNs_list_every_layer_twice_and_each_is_used_once(build_net) -> None:
    listing = reference_listing("snv1x_tcn1x")
    assert (len(listing), sum(t.same_as is None for t in listing)) == (473, 409)
    state = listed_state("snv1x_tcn1x")
    state["tcn.tcn_trunk.network.0.net.0.weight"] = state["tcn.tcn_trunk.network.0.net.0.weight"] + 1
    with pytest.raises(ReferenceCheckpointError, match=re.escape(
            "tcn.tcn_trunk.network.0.net.0.weight should repeat tcn.tcn_trunk.network.0.conv1.weight")):
        map_reference_state_dict(state, build_net("snv1x_tcn1x"))


def test_a_file_of_another_architecture_names_the_first_key_that_does_not_fit(build_net) -> None:
    with pytest.raises(ReferenceCheckpointError) as error:
        map_reference_state_dict(listed_state("snv1x_tcn1x"), build_net("snv1x_tcn2x"))
    assert str(error.value).startswith(
        "tcn.tcn_trunk.network.0.conv1.weight has shape (256, 1024, 3) but this network's "
        "backend.blocks.0.branches0.0.conv.weight has (512, 1024, 3)")
    assert "looks like the zoo's snv1x_tcn1x (model=shufflenet_tcn)" in str(error.value)
    with pytest.raises(ReferenceCheckpointError, match=r"transition0\.conv\.weight has shape \(512, 513, 1\).*"
                       r"resnet18_dctcn_video_boundary \(model=resnet18_dctcn data\.use_boundary=true\)"):
        map_reference_state_dict(listed_state("resnet18_dctcn_video_boundary"), build_net("resnet18_dctcn_video"))
    with pytest.raises(ReferenceCheckpointError, match=r"^trunk\.conv1\.weight \(ours would be audio_frontend\.stem\.weight\) "
                       r"has no place in this network; .*resnet18_mstcn_audio \(model=av_resnet18_mstcn modality=audio\)"):
        map_reference_state_dict(listed_state("resnet18_mstcn_audio"), build_net("resnet18_mstcn_video"))


def test_the_3d_stem_is_checked_first_although_the_reference_lists_it_after_the_trunk(build_net) -> None:
    names = [t.name for t in reference_listing("resnet18_mstcn_video")]
    assert names.index("frontend3D.0.weight") > names.index("trunk.layer4.1.bn2.weight")
    state = listed_state("resnet18_mstcn_video")
    state["frontend3D.0.weight"] = torch.randn(64, 3, 5, 7, 7)  # an RGB stem
    state["trunk.layer1.0.conv1.weight"] = torch.randn(1, 1)
    with pytest.raises(ReferenceCheckpointError, match=r"^frontend3D\.0\.weight has shape \(64, 3, 5, 7, 7\)"):
        map_reference_state_dict(state, build_net("resnet18_mstcn_video"))


def test_missing_and_unknown_keys_are_named(build_net) -> None:
    net = build_net("snv05x_tcn1x")
    state = listed_state("snv05x_tcn1x")
    del state["tcn.tcn_output.bias"]
    with pytest.raises(ReferenceCheckpointError, match=r"^this network's head\.bias gets no tensor from the file "
                       r"\(1 of ours missing\); .*closest is snv05x_tcn1x .*tcn\.tcn_output\.bias \(missing from the file\)"):
        map_reference_state_dict(state, net)
    state = {**listed_state("snv05x_tcn1x"), "tcn.consensus.weight": torch.ones(3)}
    with pytest.raises(ReferenceCheckpointError, match=r"^tcn\.consensus\.weight has no place in our video networks"):
        map_reference_state_dict(state, net)


@pytest.mark.parametrize("name", ZOO)
def test_each_listing_is_detected_as_its_own_zoo_entry_whatever_its_class_count(name: str) -> None:
    assert detect_architecture(listed_shapes(name)) is ZOO[name]
    lrw1000 = listed_shapes(name, num_classes=1000)
    assert detect_architecture(lrw1000) is ZOO[name] and reference_num_classes(lrw1000) == 1000


def test_an_unknown_architecture_is_answered_with_the_closest_zoo_entry() -> None:
    state = listed_shapes("snv1x_tcn1x")
    state["tcn.tcn_trunk.network.3.downsample.weight"] = torch.randn(256, 256, 1)
    with pytest.raises(ReferenceCheckpointError, match=r"matches no entry .* closest is snv1x_tcn1x \(model=shufflenet_tcn\), "
                       r"from which it differs first at tcn\.tcn_trunk\.network\.3\.downsample\.weight \(not in the zoo entry\)"):
        detect_architecture(state)


def test_reads_pth_and_pth_tar_files_with_or_without_the_wrapper_and_dataparallel_prefixes(tmp_path: Path) -> None:
    state = listed_state("snv05x_tcn1x")
    wrapped = {"model_state_dict": state, "optimizer_state_dict": {"state": {}, "param_groups": []}, "epoch_idx": 79}
    torch.save(wrapped, tmp_path / "snv05x_tcn1x.pth")
    # A bare state dict of a DataParallel model, in the pre-1.6 (non-zip) format under the .pth.tar name.
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "bare.pth.tar", _use_new_zipfile_serialization=False)
    for path in (tmp_path / "snv05x_tcn1x.pth", tmp_path / "bare.pth.tar"):
        read = read_reference_checkpoint(path)
        assert list(read) == list(state) and all(torch.equal(read[k], v) for k, v in state.items())
        assert detect_architecture(read) is ZOO["snv05x_tcn1x"]


def test_files_that_are_not_reference_checkpoints_get_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReferenceCheckpointError, match="missing.pth not found; download it from the model zoo"):
        read_reference_checkpoint(tmp_path / "missing.pth")
    (tmp_path / "truncated.pth").write_bytes(b"PK\x03\x04 not a whole file")
    with pytest.raises(ReferenceCheckpointError, match="truncated.pth is not a readable PyTorch checkpoint"):
        read_reference_checkpoint(tmp_path / "truncated.pth")
    with pytest.raises(ReferenceCheckpointError, match=r"x\.pth is not a reference checkpoint: expected .* found epoch, lr"):
        reference_state_dict({"epoch": 3, "lr": 0.1}, source="x.pth")
    with pytest.raises(ReferenceCheckpointError, match="neither the reference's 3D stem"):
        map_reference_state_dict({"net.head.weight": torch.ones(2, 2)}, torch.nn.Linear(2, 2))
    with pytest.raises(ReferenceCheckpointError, match="unknown reference model 'resnet50'; the zoo has: resnet18_mstcn_video, "):
        zoo_entry("resnet50")


def test_a_mapped_checkpoint_runs_in_our_network_on_the_cpu(tmp_path: Path) -> None:
    cfg = compose_config("train", ["data=lrw", *ZOO["snv05x_tcn1x"].overrides], tmp_path)
    net = instantiate(cfg.model).eval()
    weights, report = map_reference_state_dict(listed_state("snv05x_tcn1x"), net)
    net.load_state_dict(weights)
    assert report.parameters == 2_909_852 and "64 duplicate registrations used once" in report.summary()
    with torch.no_grad():
        logits = net(torch.randn(1, 1, 5, 88, 88), torch.tensor([5]))
    assert logits.shape == (1, 500) and torch.isfinite(logits).all()


def test_the_vocabulary_is_the_references_sorted_label_list() -> None:
    words = reference_vocabulary()
    assert len(words) == len(set(words)) == 500 and list(words) == sorted(words)
    assert (words[0], words[1], words[-1]) == ("ABOUT", "ABSOLUTELY", "YOUNG")


def test_every_zoo_entry_names_configs_that_exist() -> None:
    for entry in ZOO.values():
        assert (CONF / "model" / f"{entry.model}.yaml").is_file(), entry
        assert entry.modality in ("video", "audio") and 79 < entry.lrw_accuracy < 100
