"""optimize_for_inference: BatchNorms folded into convolutions, outputs unchanged, the network's API kept."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from lipreading.models.inference import ChannelsLastShuffleBlock, OneDnnConv1d, optimize_for_inference
from lipreading.run.word_export import export_onnx, onnx_session

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


def test_the_optimised_float32_path_rounds_no_worse_than_the_plain_one_and_takes_onednn(build_model, monkeypatch) -> None:
    """In float32 (where oneDNN is called directly) the published ShuffleNet + TCN's optimised logits are as close
    to the float64 network's as the plain float32 network's are (float32 rounding alone is ~2e-5 here, so the
    1e-5 check of every config runs in float64 above); its shuffle blocks and dilated convolutions were rewritten,
    and oneDNN ran."""
    torch.manual_seed(0)
    net = build_model("model=shufflenet0.5_tcn")
    video, lengths = torch.randn(2, 1, 9, 44, 44), torch.tensor([9, 6])
    _calibrate_norm_statistics(net, video, lengths)
    fused = optimize_for_inference(net)
    assert sum(isinstance(m, ChannelsLastShuffleBlock) for m in fused.modules()) == 16  # 4 + 8 + 4 blocks
    dilated = [m for m in fused.modules() if isinstance(m, OneDnnConv1d)]
    assert len(dilated) == 6 and all(m.dilation[0] > 1 for m in dilated)  # blocks 2-4 of the TCN, 2 convs each
    calls = []
    onednn = torch.mkldnn_convolution
    monkeypatch.setattr(torch, "mkldnn_convolution", lambda *args: calls.append(1) or onednn(*args))
    with torch.inference_mode():
        exact = copy.deepcopy(net).double()(video.double(), lengths)
        plain, got = net(video, lengths), fused(video, lengths)
    assert len(calls) == 6
    assert exact.abs().max() > 0.5  # logits of a size where a wrong rewrite shows
    plain_error, fused_error = (plain.double() - exact).abs().max(), (got.double() - exact).abs().max()
    assert fused_error <= 2 * plain_error + 1e-6 and fused_error < 1e-4, (fused_error, plain_error)


def test_a_dilated_onednn_conv1d_is_the_plain_conv1d_and_keeps_autograd() -> None:
    conv = nn.Conv1d(8, 6, 3, dilation=4, padding=4)
    fast = OneDnnConv1d(conv)
    x = torch.randn(1, 8, 13, requires_grad=True)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), conv(x), atol=1e-6, rtol=0)
    fast(x).sum().backward()  # with autograd on, the plain convolution runs (oneDNN's call has no backward here)
    assert x.grad is not None and fast.weight is conv.weight


def test_the_optimised_shufflenet_exports_with_a_dynamic_time_axis(build_model, tmp_path) -> None:
    """The rewritten blocks and convolutions trace as plain operations: ONNX Runtime at another length agrees."""
    torch.manual_seed(0)
    net = build_model("model=shufflenet0.5_tcn")
    _calibrate_norm_statistics(net, torch.randn(2, 1, 9, 44, 44), torch.tensor([9, 9]))
    fused = optimize_for_inference(net)
    path = export_onnx(fused, (torch.randn(1, 1, 9, 44, 44), torch.tensor([9])), tmp_path / "net.onnx")
    video, lengths = torch.randn(2, 1, 14, 44, 44), torch.tensor([14, 10])
    (logits,) = onnx_session(path, threads=1).run(None, {"video": video.numpy(), "lengths": lengths.numpy()})
    with torch.inference_mode():
        torch.testing.assert_close(torch.from_numpy(logits), net(video, lengths), atol=1e-4, rtol=0)
