"""optimize_for_inference: BatchNorms folded into convolutions, outputs unchanged, the network's API kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from lipreading.models.inference import optimize_for_inference

CONF = Path(__file__).resolve().parents[2] / "conf"
WORD_MODEL = "lipreading.models.classifier.WordClassifierNet"


def _word_models() -> list[str]:
    """The conf/model options that build a word classifier (the sentence models have their own tests)."""
    with initialize_config_dir(config_dir=str(CONF / "model"), version_base="1.3"):
        names = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
        return [name for name in names if compose(name).get("_target_") == WORD_MODEL]


# The L variant is the T variant's structure, 7x the size: ~10 s in float64, so it runs with -m slow; so do
# seed 001's B and S sizes (its T size's structure, 1.5x and 3x the size).
LARGE_VARIANTS = {"efficientnet_l_transformer", "eflipreading_b", "eflipreading_s"}
MODELS = [pytest.param(n, marks=pytest.mark.slow) if n in LARGE_VARIANTS else n for n in _word_models()]


@pytest.fixture(scope="module")
def build_model(tmp_path_factory):
    primary = tmp_path_factory.mktemp("conf") / "primary.yaml"
    primary.write_text(
        "defaults:\n  - model: small_tcn\n  - _self_\n"
        f"data:\n  num_classes: 10\nsamples_per_frame: 640\nhydra:\n  searchpath:\n    - file://{CONF}\n"
    )
    with initialize_config_dir(config_dir=str(primary.parent), version_base="1.3"):
        yield lambda *overrides: instantiate(compose("primary", overrides=list(overrides)).model)


def _calibrate_norm_statistics(net: nn.Module, video: torch.Tensor, lengths: torch.Tensor) -> None:
    """Running statistics of real activations (far from mean 0 / variance 1), so that a wrong fold shows.

    Random statistics would not do: through 40 residual blocks they blow activations up to ~1e5, where
    float rounding alone changes the logits by more than 1e-5.
    """
    for m in net.modules():
        if isinstance(m, _BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    net.train()
    with torch.no_grad():
        net(video, lengths)
    net.eval()


def _batch_norms(module: nn.Module) -> int:
    return sum(isinstance(m, _BatchNorm) for m in module.modules())


@pytest.mark.parametrize("name", MODELS)
def test_every_model_config_keeps_its_outputs_within_1e_5(build_model, name: str) -> None:
    torch.manual_seed(0)
    net = build_model(f"model={name}").double()
    video, lengths = torch.randn(2, 1, 5, 44, 44, dtype=torch.float64), torch.tensor([5, 3])
    _calibrate_norm_statistics(net, video, lengths)
    fused = optimize_for_inference(net)
    with torch.inference_mode():
        expected, got = net(video, lengths), fused(video, lengths)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    # Every BatchNorm after a conv is gone (DC-TCN's closing BN follows a concatenation and stays).
    assert _batch_norms(fused) <= (1 if name.endswith("dctcn") else 0) < _batch_norms(net)
    assert fused.num_classes == net.num_classes and not fused.training


def test_the_original_is_untouched_and_timm_batch_norm_act_keeps_its_activation(build_model) -> None:
    net = build_model("model/frontend=efficientnetv2_t").eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fused = optimize_for_inference(net)
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    stem_block = fused.frontend.trunk[0][0]  # timm ConvBnAct: conv -> BatchNormAct2d(SiLU)
    assert isinstance(stem_block.bn1, nn.Sequential) and isinstance(stem_block.bn1[-1], nn.SiLU)
    assert stem_block.conv.bias is not None


def test_a_batch_norm_that_does_not_directly_follow_a_conv_is_kept() -> None:
    class ConvReluBn(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.bn(torch.relu(self.conv(x)))

    fused = optimize_for_inference(ConvReluBn())
    assert isinstance(fused.bn, nn.BatchNorm2d) and fused.conv.bias is not None is not fused.conv.bias
