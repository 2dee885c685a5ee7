"""Every frontend config works with every backend config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from lipreading.models.audiovisual import AudioVisualWordNet
from lipreading.models.classifier import WordClassifierNet

CONF = Path(__file__).resolve().parents[2] / "conf"
FRONTENDS = sorted(p.stem for p in (CONF / "model" / "frontend").glob("*.yaml"))
BACKENDS = sorted(p.stem for p in (CONF / "model" / "backend").glob("*.yaml"))


@pytest.fixture(scope="module")
def compose_model(tmp_path_factory):
    """Compose ``model`` overrides from conf/ under a throw-away primary config (10 classes)."""
    primary = tmp_path_factory.mktemp("conf") / "primary.yaml"
    primary.write_text(
        "defaults:\n  - model: resnet18_mstcn\n  - _self_\n"
        f"data:\n  num_classes: 10\nsamples_per_frame: 640\nhydra:\n  searchpath:\n    - file://{CONF}\n"
    )  # the top-level keys the model configs interpolate (train.yaml's)
    with initialize_config_dir(config_dir=str(primary.parent), version_base="1.3"):
        yield lambda *overrides: compose("primary", overrides=list(overrides)).model


# Pairs of a wide frontend (>= 1024-d or > 3M params) and a backend of > 20M params take ~1 s each to build.
HEAVY_FRONTENDS = {"resnet18", "efficientnetv2_l", "shufflenet_v2_1.5", "shufflenet_v2_2.0"}
HEAVY_BACKENDS = {"bigru", "dctcn", "mstcn"}
PAIRS = [
    pytest.param(f, b, marks=pytest.mark.slow) if f in HEAVY_FRONTENDS and b in HEAVY_BACKENDS else (f, b)
    for f in FRONTENDS
    for b in BACKENDS
]


@pytest.fixture(scope="module")
def frontend_of(compose_model):
    """Each frontend config, built once on first use."""
    built = {}

    def get(name: str) -> torch.nn.Module:
        if name not in built:
            built[name] = instantiate(compose_model(f"model/frontend={name}").frontend).eval()
        return built[name]

    return get


def test_every_config_is_paired() -> None:
    assert len(PAIRS) == len(FRONTENDS) * len(BACKENDS) >= 8 * 8


@pytest.mark.parametrize(("frontend", "backend"), PAIRS)
def test_every_frontend_runs_with_every_backend(compose_model, frontend_of, frontend: str, backend: str) -> None:
    """The configs as they are (full width), on 2 clips x 4 frames x 44x44."""
    cfg = compose_model(f"model/frontend={frontend}", f"model/backend={backend}")
    video = torch.randn(2, 1, 4, 44, 44)
    if cfg.frontend._target_.startswith("lipreading.models.frontends.audio."):  # audio: (B, T * 640) waveform
        net = AudioVisualWordNet(instantiate(cfg.backend), 10, audio_frontend=frontend_of(frontend)).eval()
        inputs = {"audio": torch.randn(2, 4 * 640)}
    else:
        net, inputs = WordClassifierNet(frontend_of(frontend), instantiate(cfg.backend), num_classes=10).eval(), {}
    assert net.backend.output_dim == net.head.in_features
    with torch.inference_mode():
        logits = net(video, torch.tensor([4, 3]), **inputs)
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
