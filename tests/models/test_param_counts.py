"""Every published composition has exactly the reference's parameter count.

Reference counts: the original code (github.com/mpc001/Lipreading_using_TCN, ``lipreading/model.py``
built from ``configs/lrw_*.json``), measured for LRW (500 classes) and LRW-1000 (1000 classes).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from lipreading.run.build import unused_streams

CONF = Path(__file__).resolve().parents[2] / "conf"

REFERENCE_PARAMS = {  # model config -> {num_classes: parameters}
    "resnet18_mstcn": {500: 36_361_396, 1000: 36_745_896},
    "shufflenet_dsmstcn": {500: 9_264_200, 1000: 9_648_700},
    "shufflenet_tcn": {500: 3_821_664, 1000: 3_950_164},
    "shufflenet0.5_tcn": {500: 2_909_852, 1000: 3_038_352},
    "resnet18_dctcn": {500: 52_548_532, 1000: 53_381_032},  # lrw_resnet18_dctcn.json
    "shufflenet_tcn2x": {500: 9_136_480, 1000: 9_392_980},  # lrw_snv1x_tcn2x.json
    "shufflenet0.5_tcn2x": {500: 8_224_668, 1000: 8_481_168},  # lrw_snv05x_tcn2x.json
}
# The audio-only models: the reference's Lipreading(modality="audio") from the same json files (Swish).
REFERENCE_AUDIO_PARAMS = {
    "av_resnet18_mstcn": {500: 29_027_188, 1000: 29_411_688},  # lrw_resnet18_mstcn.json
    "av_resnet18_dctcn": {500: 45_214_324, 1000: 46_046_824},  # lrw_resnet18_dctcn.json
}
# With data.use_boundary=true the backend's first 1x1 conv takes one more input channel (512 weights):
# the reference's lrw_resnet18_dctcn_boundary.json, for video and for audio.
REFERENCE_BOUNDARY_PARAMS = {"resnet18_dctcn": 52_549_044}
REFERENCE_AUDIO_BOUNDARY_PARAMS = {"av_resnet18_dctcn": 45_214_836}
# Seed 001's EfficientNetV2 + Transformer + TCN, built by its own code (github.com/sadevans/EfLipReading,
# scripts/model/e2e.py with scripts/configs/model/default.yaml, 500 classes), counted.
SEED001_PARAMS = {"eflipreading_t": 8_178_686, "eflipreading_b": 11_920_824, "eflipreading_s": 26_194_496}
# The CPU demo's network (model=small_tcn) and its audio-visual sibling, as the config restructure of
# issue 17 found them (500 classes): the demo's figures were measured with exactly these networks.
DEMO_PARAMS = {"small_tcn": 241_396, "av_small_tcn": 321_812}
FRONTEND_PARAMS = {  # config -> (parameters, features per frame), as each frontend YAML sets it
    "resnet18": (11_182_784, 512),  # the reference's, with Swish
    "shufflenet_v2_0.5": (347_048, 1024),  # the reference's ShuffleNet stems use PReLU ...
    "shufflenet_v2_1.0": (1_258_860, 1024),
    "shufflenet_v2_1.0_relu": (1_258_836, 1024),  # ... except lrw_snv1x_dsmstcn3x.json's (ReLU: 24 slopes fewer)
    "shufflenet_v2_1.5": (2_483_880, 1024),
    "shufflenet_v2_2.0": (5_350_252, 2048),
    "efficientnetv2_t": (2_703_052, 640),  # no reference code: EfficientNetV2-S stages at width 0.5 / depth 0.5
    "efficientnetv2_l": (20_182_720, 1280),  # the full EfficientNetV2-S trunk
    "efficientnetv2_glu_t": (2_030_470, 384),  # seed 001's code, its sizes T, B, S
    "efficientnetv2_glu_b": (5_772_608, 384),
    "efficientnetv2_glu_s": (20_046_280, 384),
    "cnn3d": (1_170_016, 256),
    "resnet3d_18": (33_147_456, 512),  # torchvision's r3d_18 without its classifier, for one input channel
    "small": (81_152, 96),
    "small_half": (20_992, 48),
    "resnet18_1d": (3_848_576, 512),  # the reference's ResNet1D (Swish)
    "resnet1d_small": (46_528, 64),
    "logmel_efficientnet_b0": (4_006_972, 1280),
    "logmel_efficientnet_small": (198_678, 320),
}


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def compose_model(tmp_path_factory):
    """Compose overrides of ``model`` from conf/ under a throw-away primary config (500 classes)."""
    primary = tmp_path_factory.mktemp("conf") / "primary.yaml"
    primary.write_text(
        "defaults:\n  - model: shufflenet_tcn\n  - _self_\n"
        f"data:\n  num_classes: 500\nsamples_per_frame: 640\nhydra:\n  searchpath:\n    - file://{CONF}\n"
    )
    with initialize_config_dir(config_dir=str(primary.parent), version_base="1.3"):
        yield lambda *overrides: compose("primary", overrides=list(overrides))


@pytest.mark.parametrize("num_classes", [500, 1000])
@pytest.mark.parametrize("name", REFERENCE_PARAMS)
def test_published_models_match_the_reference_count(compose_model, name: str, num_classes: int) -> None:
    cfg = compose_model(f"model={name}", f"data.num_classes={num_classes}")
    model = instantiate(cfg.model)
    assert model.head.out_features == num_classes
    assert count(model) == REFERENCE_PARAMS[name][num_classes]


@pytest.mark.parametrize("num_classes", [500, 1000])
@pytest.mark.parametrize("name", REFERENCE_AUDIO_PARAMS)
def test_published_audio_models_match_the_reference_count(compose_model, name: str, num_classes: int) -> None:
    cfg = compose_model(f"model={name}", "+modality=audio", f"data.num_classes={num_classes}")
    model = instantiate(cfg.model, **unused_streams(cfg))
    assert model.video_frontend is None and model.head.out_features == num_classes
    assert count(model) == REFERENCE_AUDIO_PARAMS[name][num_classes]


@pytest.mark.parametrize("name", REFERENCE_AUDIO_BOUNDARY_PARAMS)
def test_boundary_input_adds_the_references_count_to_audio_models(compose_model, name: str) -> None:
    cfg = compose_model(f"model={name}", "+modality=audio", "+data.use_boundary=true")
    model = instantiate(cfg.model, **unused_streams(cfg))
    assert model.use_boundary and count(model) == REFERENCE_AUDIO_BOUNDARY_PARAMS[name]


@pytest.mark.parametrize("name", SEED001_PARAMS)
def test_seed001_models_match_its_codes_count(compose_model, name: str) -> None:
    model = instantiate(compose_model(f"model={name}").model)
    assert count(model) == SEED001_PARAMS[name]


@pytest.mark.parametrize("name", DEMO_PARAMS)
def test_the_demo_networks_are_unchanged(compose_model, name: str) -> None:
    assert count(instantiate(compose_model(f"model={name}").model)) == DEMO_PARAMS[name]


def test_every_frontend_config_has_a_count() -> None:
    assert set(FRONTEND_PARAMS) == {p.stem for p in (CONF / "model" / "frontend").glob("*.yaml")}


@pytest.mark.parametrize("name", FRONTEND_PARAMS)
def test_every_frontend_config_instantiates_with_its_count(compose_model, name: str) -> None:
    frontend = instantiate(compose_model(f"model/frontend={name}").model.frontend)
    assert (count(frontend), frontend.output_dim) == FRONTEND_PARAMS[name]


BACKEND_OUTPUT_DIMS = {"tcn": 256, "tcn2x": 512, "mstcn": 768, "dsmstcn": 768, "dctcn": 1664, "transformer": 256,
                       "transformer_tcn": 256, "bigru": 2048, "bilstm": 1024, "tcn_small": 96,
                       "tcn_small_half": 48, "bigru_256": 512, "bilstm_128": 256, "bilstm_256": 512,
                       "tcn_bigru": 256, "transformer_eflip": 384, "tcn_eflip": 463, "transformer_tcn_eflip": 463,
                       "conformer": 768, "conformer_small": 128}
# The published back-ends at their published sizes, on the input width of the model they come from.
PUBLISHED_BACKENDS = {  # name -> (input width, parameters)
    "tcn": (1024, 2_434_304),  # ShuffleNetV2 + TCN
    "mstcn": (512, 24_794_112),  # ResNet-18 + MS-TCN
    "dsmstcn": (1024, 7_620_864),  # ShuffleNetV2 + DS-MS-TCN
    "transformer_tcn_eflip": (384, 5_916_216),  # seed 001
}
# Auto-AVSR's proj_encoder (512 -> 768) + ConformerEncoder, counted from its code (github.com/mpc001/auto_avsr).
BACKEND_PARAMS = {"conformer": (512, 170_845_440)}


@pytest.mark.parametrize("name", BACKEND_OUTPUT_DIMS)
def test_every_backend_config_is_a_factory_of_input_dim(compose_model, name: str) -> None:
    backend = instantiate(compose_model(f"model/backend={name}").model.backend)(input_dim=1024)
    assert backend.output_dim == BACKEND_OUTPUT_DIMS[name]


@pytest.mark.parametrize("name", REFERENCE_BOUNDARY_PARAMS)
def test_boundary_input_adds_the_references_count(compose_model, name: str) -> None:
    model = instantiate(compose_model(f"model={name}", "+data.use_boundary=true").model)
    assert model.use_boundary and count(model) == REFERENCE_BOUNDARY_PARAMS[name]


def test_every_backend_config_has_an_output_width() -> None:
    assert set(BACKEND_OUTPUT_DIMS) == {p.stem for p in (CONF / "model" / "backend").glob("*.yaml")}


@pytest.mark.parametrize("name", PUBLISHED_BACKENDS)
def test_a_backend_swapped_onto_the_default_model_is_the_published_one(compose_model, name: str) -> None:
    """`python train.py model/backend=mstcn` trains the MS-TCN of the paper, not the demo's TCN widths."""
    default_model = next(e["model"] for e in OmegaConf.load(CONF / "train.yaml").defaults if "model" in e)
    cfg = compose_model(f"model={default_model}", f"model/backend={name}")
    assert cfg.model.frontend._target_.endswith("SmallFrontend")  # the demo's own frontend is kept
    width, params = PUBLISHED_BACKENDS[name]
    assert count(instantiate(cfg.model.backend)(input_dim=width)) == params


@pytest.mark.parametrize("name", BACKEND_PARAMS)
def test_backends_match_their_reference_count(compose_model, name: str) -> None:
    input_dim, params = BACKEND_PARAMS[name]
    assert count(instantiate(compose_model(f"model/backend={name}").model.backend)(input_dim=input_dim)) == params


def test_auto_avsr_model_has_its_count(compose_model) -> None:
    """model=resnet18_conformer_transformer with Auto-AVSR's 5,049 units = its E2E (frontend, encoder, decoder, CTC),
    counted from its code (github.com/mpc001/auto_avsr, espnet/nets/pytorch_backend/e2e_asr_conformer.py)."""
    model = instantiate(compose_model("model=resnet18_conformer_transformer").model, vocab_size=5049,
                        blank_id=0, bos_id=5048, eos_id=5048)
    assert count(model) == 250_383_410
    assert count(model.frontend) == FRONTEND_PARAMS["resnet18"][0] and count(model.backend) == 170_845_440
