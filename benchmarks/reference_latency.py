"""One process's single-clip latency of the original authors' word model (helper of ``latency_vs_reference``).

    python benchmarks/reference_latency.py --reference PATH --config lrw_resnet18_mstcn.json [--modality audio]

``PATH`` is a checkout of github.com/mpc001/Lipreading_using_Temporal_Convolutional_Networks, kept outside this
repository; its ``lipreading`` package is imported from there (it has this project's package name, so this
script imports nothing of ours, is run by path, and registers the reference's folder as ``lipreading``). The network is
built from ``PATH/configs/<config>`` as the reference's ``main.py`` (``get_model_from_json``) builds it, on the
CPU, in eval mode with its own random weights, and run under ``torch.inference_mode`` with one thread: the
reference's eager PyTorch as its ``main.py --test`` runs it. Prints one JSON line: the median wall-clock and
process CPU seconds.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path


def register_reference(reference: Path) -> None:
    """Make ``import lipreading`` load the reference's package from ``reference``.

    The reference's ``lipreading`` folder has no ``__init__.py`` (a namespace package), so a regular package of
    that name anywhere on the path (ours, when installed) would win: its folder is registered as the package.
    """
    package = importlib.util.module_from_spec(importlib.machinery.ModuleSpec("lipreading", None, is_package=True))
    package.__path__ = [str(reference / "lipreading")]
    sys.modules["lipreading"] = package


def build_reference(reference: Path, config: str, modality: str, num_classes: int):
    """The reference's ``Lipreading`` network for ``configs/<config>`` (its ``main.py:get_model_from_json``)."""
    register_reference(reference)
    from lipreading.model import Lipreading  # the reference's package, not ours

    options = json.loads((reference / "configs" / config).read_text())
    tcn_options = {}
    if options.get("tcn_num_layers"):
        tcn_options = {"num_layers": options["tcn_num_layers"], "kernel_size": options["tcn_kernel_size"],
                       "dropout": options["tcn_dropout"], "dwpw": options["tcn_dwpw"],
                       "width_mult": options["tcn_width_mult"]}
    densetcn_options = {}
    if options.get("densetcn_block_config"):
        densetcn_options = {"block_config": options["densetcn_block_config"],
                            "growth_rate_set": options["densetcn_growth_rate_set"],
                            "reduced_size": options["densetcn_reduced_size"],
                            "kernel_size_set": options["densetcn_kernel_size_set"],
                            "dilation_size_set": options["densetcn_dilation_size_set"],
                            "squeeze_excitation": options["densetcn_se"], "dropout": options["densetcn_dropout"]}
    return Lipreading(modality=modality, num_classes=num_classes, tcn_options=tcn_options,
                      densetcn_options=densetcn_options, backbone_type=options["backbone_type"],
                      relu_type=options["relu_type"], width_mult=options["width_mult"],
                      use_boundary=options.get("use_boundary", False)).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True, help="checkout of Lipreading_using_TCN")
    parser.add_argument("--config", required=True, help="the reference's configs/<name>.json")
    parser.add_argument("--modality", choices=("video", "audio"), default="video")
    parser.add_argument("--num-classes", type=int, default=500)
    parser.add_argument("--frames", type=int, default=29)
    parser.add_argument("--size", type=int, default=88)
    parser.add_argument("--samples-per-frame", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = build_reference(args.reference.resolve(), args.config, args.modality, args.num_classes)
    if args.modality == "video":
        clip = torch.randn(1, 1, args.frames, args.size, args.size)  # (B, C, T, H, W)
        lengths = [args.frames]
    else:
        clip = torch.randn(1, 1, args.frames * args.samples_per_frame)  # (B, 1, samples)
        lengths = [args.frames * args.samples_per_frame]  # the reference's audio lengths are in samples
    boundaries = None
    if model.use_boundary:  # (B, T, 1): 1 inside the word, as the reference's dataloader gives it
        boundaries = torch.zeros(1, args.frames, 1)
        boundaries[:, args.frames // 2 - 5: args.frames // 2 + 5] = 1.0
    wall, cpu = [], []
    with torch.inference_mode():
        for i in range(args.repeats + 2):
            start, start_cpu = time.perf_counter(), time.process_time()
            model(clip, lengths=lengths, boundaries=boundaries)
            if i >= 2:
                wall.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
    print(json.dumps({"eager": statistics.median(wall), "eager_cpu": statistics.median(cpu),
                      "params": sum(p.numel() for p in model.parameters())}))


if __name__ == "__main__":
    main()
