import ast
import sys
from functools import partial
from pathlib import Path

import torch

from lipreading.models.backends.tcn import TemporalConvNet
from lipreading.models.classifier import WordClassifierNet
from lipreading.models.frontends.small import SmallFrontend

MODELS = Path(__file__).resolve().parents[2] / "src" / "lipreading" / "models"
ALLOWED_ROOTS = {"torch", "torchvision", "timm"}  # and the standard library, and lipreading.models itself


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


def disallowed_imports(source: str, module: str) -> list[str]:
    """The imports of ``source`` (the module ``module`` of lipreading.models) outside the whitelist:
    torch, torchvision, timm, the standard library and lipreading.models itself."""
    package = module.rsplit(".", 1)[0]
    bad = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against the module's package
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names = [base]
        else:
            continue
        for name in names:
            root = name.split(".")[0]
            ours = name == "lipreading.models" or name.startswith("lipreading.models.")
            if not (ours or root in ALLOWED_ROOTS or root in sys.stdlib_module_names):
                bad.append(name)
    return bad


def test_models_import_only_torch_timm_torchvision_the_standard_library_and_models():
    """models/ holds plain nn.Modules: a whitelist, so Lightning, Hydra, data or workflow code all fail it."""
    for path in MODELS.rglob("*.py"):
        module = ".".join(path.relative_to(MODELS.parents[1]).with_suffix("").parts)
        assert disallowed_imports(path.read_text(), module) == [], path.name
    assert disallowed_imports("from lipreading.run.train import train", "lipreading.models.x") == ["lipreading.run.train"]
    assert disallowed_imports("def f():\n    from ...tasks import optim", "lipreading.models.backends.x") == ["lipreading.tasks"]
    assert disallowed_imports("import pytorch_lightning as pl", "lipreading.models.x") == ["pytorch_lightning"]
    assert disallowed_imports("from omegaconf import DictConfig", "lipreading.models.x") == ["omegaconf"]
    assert disallowed_imports("from .masks import length_mask\nimport math", "lipreading.models.x") == []
