"""Every frontend config works with every backend config, at the frontends' true output widths."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate

from lipreading.models.audiovisual import AudioVisualWordNet
from lipreading.models.classifier import WordClassifierNet
from tests.helpers.tiny import shrink
from tests.models.test_param_counts import FRONTEND_PARAMS

CONF = Path(__file__).resolve().parents[2] / "conf"
FRONTENDS = sorted(p.stem for p in (CONF / "model" / "frontend").glob("*.yaml"))
BACKENDS = sorted(p.stem for p in (CONF / "model" / "backend").glob("*.yaml"))
# Every width a backend is given: each frontend's (tests/models/test_param_counts.py checks them), odd ones
# (a word-boundary channel added to 96 and 512), and the audio-visual CPU model's two streams concatenated.
WIDTHS = sorted({width for _, width in FRONTEND_PARAMS.values()} | {96 + 1, 512 + 1, 96 + 64})


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


@pytest.mark.usefixtures("single_thread")
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_backend_takes_every_frontend_width(compose_model, backend: str) -> None:
    """Each backend config (shrunk to tiny widths inside) on features of every width a frontend gives."""
    cfg = compose_model(f"model/backend={backend}").backend
    shrink(cfg)
    factory = instantiate(cfg)
    for width in WIDTHS:
        module = factory(input_dim=width).eval()
        with torch.inference_mode():
            out = module(torch.randn(2, 5, width), torch.tensor([5, 3]))
        assert out.shape == (2, 5, module.output_dim), width


# Full-width pairs: 19 frontends x 17 backends take minutes on 2 cores; the default suite runs the
# tiny cross product of tests/test_compositions.py and the widths test above instead.
@pytest.fixture(scope="module")
def frontend_of(compose_model):
    """Each frontend config, built once on first use."""
    built = {}

    def get(name: str) -> torch.nn.Module:
        if name not in built:
            built[name] = instantiate(compose_model(f"model/frontend={name}").frontend).eval()
        return built[name]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("frontend", FRONTENDS)
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
