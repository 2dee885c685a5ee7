import ast
from functools import partial
from pathlib import Path

import torch

from lipreading.models.backends.tcn import TemporalConvNet
from lipreading.models.classifier import WordClassifierNet, masked_mean
from lipreading.models.frontends.small import SmallFrontend

MODELS = Path(__file__).resolve().parents[2] / "src" / "lipreading" / "models"
ALLOWED_ROOTS = {"torch", "torchvision", "timm", "lipreading", "__future__", "typing", "math",
                 "functools", "collections", "dataclasses", "itertools", "copy", "warnings", "numbers"}


def _small_net(num_classes: int = 7) -> WordClassifierNet:
    backend = partial(TemporalConvNet, branch_channels=32, num_layers=2, dropout=0.0, activation="relu")
    return WordClassifierNet(SmallFrontend(), backend, num_classes).eval()


def test_shapes():
    net = _small_net()
    logits = net(torch.randn(3, 1, 29, 44, 44), torch.tensor([29, 20, 5]))
    assert logits.shape == (3, 7)


def test_padding_never_changes_a_clip():
    torch.manual_seed(0)
    net = _small_net()
    clip = torch.randn(1, 1, 12, 44, 44)
    alone = net(clip, torch.tensor([12]))
    padded = torch.randn(2, 1, 20, 44, 44) * 5  # garbage everywhere, then the clip in front
    padded[0, :, :12] = clip[0]
    batched = net(padded, torch.tensor([12, 20]))
    assert torch.allclose(alone[0], batched[0], atol=1e-5)


def test_masked_mean_ignores_padding():
    x = torch.tensor([[[1.0], [3.0], [100.0]]])
    assert masked_mean(x, torch.tensor([2])).item() == 2.0


def test_models_import_no_training_or_config_code():
    """models/ holds plain nn.Modules: no Lightning, Hydra, OmegaConf or data code."""
    for path in MODELS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                root = name.split(".")[0]
                assert root in ALLOWED_ROOTS, f"{path.name} imports {name}"
                assert not name.startswith(("lipreading.data", "lipreading.tasks", "lipreading.utils")), \
                    f"{path.name} imports {name}"
