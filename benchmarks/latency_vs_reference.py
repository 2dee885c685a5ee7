"""Single-clip latency of every published word model against the original authors' code, side by side.

    python -m benchmarks.latency_vs_reference --reference /tmp/ref [entries ...] [--rounds 3] [--repeats 3]

For each entry of the reference's model zoo (:data:`lipreading.interop.tcn_reference.ZOO`: the video and the
audio models, each one of our configs), processes alternate, ``--rounds`` times: one measures our network, the
next the reference's (``benchmarks/reference_latency.py``, run by path with ``--reference`` first on its path:
the reference code stays outside this repository). Every process runs one thread on one clip of 29x88x88 (audio:
its 29 x 640 samples of 16 kHz waveform, 1.16 s) and takes the median of ``--repeats`` runs after two warm-up
runs; the table gives the median over the rounds.

Ours: our inference preparation, what ``export.py`` exports (:func:`lipreading.models.inference.optimize_for_inference`:
eval mode, BatchNorms folded, ShuffleNet blocks kept channels-last, dilated temporal convolutions on oneDNN), under ``torch.inference_mode``. "ONNX Runtime":
that network exported by ``lipreading.run.word_export.export_onnx`` (audio: the same exporter and settings with
an ``audio`` input, :func:`export_audio_onnx`; ``export.py`` exports video networks only) and run by ONNX Runtime's CPU provider with
one thread. The reference: its ``Lipreading`` built from its ``configs/*.json`` as its ``main.py`` builds it, eval
mode, ``torch.inference_mode``, eager PyTorch. Both sides have random weights (latency does not depend on them).
Ratios are ours / the reference's eager latency (wall clock; the last two columns: the processes' own CPU time,
which the other jobs of a shared machine disturb less); the goals are <= 0.7 (eager) and <= 0.4 (ONNX Runtime).
A missing ``--reference`` checkout skips the comparison with a message (our columns are still measured).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_HELPER = Path(__file__).resolve().with_name("reference_latency.py")
FRAMES, SIZE, SAMPLES_PER_FRAME, NUM_CLASSES = 29, 88, 640, 500
GOALS = {"eager": 0.7, "onnx": 0.4}


class AudioOnly(nn.Module):
    """An audio word network with ``(audio, lengths[, boundary])`` inputs, for the ONNX export."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, audio: torch.Tensor, lengths: torch.Tensor, boundary: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(None, lengths, boundary=boundary, audio=audio)


def export_audio_onnx(net: AudioOnly, inputs: tuple[torch.Tensor, ...], path: Path) -> Path:
    """``export_onnx``'s exporter and settings for an audio network (``export.py`` exports video networks only)."""
    names = ["audio", "lengths", "boundary"][: len(inputs)]
    axes = {"audio": {0: "batch", 1: "samples"}, "lengths": {0: "batch"}, "boundary": {0: "batch", 1: "time"},
            "logits": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python values
        torch.onnx.export(net, inputs, str(path), input_names=names, output_names=["logits"],
                          dynamic_axes={n: axes[n] for n in [*names, "logits"]}, opset_version=17, dynamo=False)
    return path


def our_network(entry_name: str) -> tuple[nn.Module, tuple[torch.Tensor, ...], str]:
    """Our network of zoo entry ``entry_name`` (random weights, 500 classes), its inputs and their modality."""
    from hydra import compose, initialize_config_dir

    from lipreading.interop.tcn_reference import zoo_entry
    from lipreading.run.build import build_network

    entry = zoo_entry(entry_name)
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["data=lrw", *entry.overrides])
    torch.manual_seed(0)
    net = build_network(cfg).eval()
    lengths = torch.tensor([FRAMES])
    clip = (torch.randn(1, FRAMES * SAMPLES_PER_FRAME) if entry.modality == "audio"
            else torch.randn(1, 1, FRAMES, SIZE, SIZE))  # (B, samples) or (B, C, T, H, W)
    inputs: tuple[torch.Tensor, ...] = (clip, lengths)
    if entry.use_boundary:
        boundary = torch.zeros(1, FRAMES)  # (B, T): 1 inside the word
        boundary[:, FRAMES // 2 - 5: FRAMES // 2 + 5] = 1.0
        inputs = (*inputs, boundary)
    return net, inputs, entry.modality


def median_seconds(run, repeats: int) -> tuple[float, float]:
    """Median wall-clock and process CPU seconds of ``run()`` over ``repeats`` calls after two warm-up calls."""
    wall, cpu = [], []
    for i in range(repeats + 2):
        start, start_cpu = time.perf_counter(), time.process_time()
        run()
        if i >= 2:
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def measure_ours(entry_name: str, repeats: int, onnx: bool) -> dict[str, float]:
    """Our eager latency (inference preparation applied) and, with ``onnx``, ONNX Runtime's (one thread)."""
    from lipreading.models.inference import optimize_for_inference
    from lipreading.run.word_export import export_onnx, onnx_session

    net, inputs, modality = our_network(entry_name)
    prepared = optimize_for_inference(net)
    if modality == "audio":
        prepared = AudioOnly(prepared)
    with torch.inference_mode():
        result = dict(zip(("eager", "eager_cpu"), median_seconds(lambda: prepared(*inputs), repeats)))
        result["params"] = sum(p.numel() for p in net.parameters())
    if onnx:
        with tempfile.TemporaryDirectory() as tmp:
            export = export_audio_onnx if modality == "audio" else export_onnx
            path = export(prepared, inputs, Path(tmp) / "model.onnx")
            session = onnx_session(path, threads=1)
            names = [i.name for i in session.get_inputs()]
            feeds = {name: tensor.numpy() for name, tensor in zip(names, inputs)}
            result.update(zip(("onnx", "onnx_cpu"), median_seconds(lambda: session.run(None, feeds), repeats)))
    return result


def run_child(command: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run one measuring process and return the JSON of its last output line."""
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def one_thread_env(pythonpath: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


def row_cells(ours: list[dict[str, float]], theirs: list[dict[str, float]]) -> list[str]:
    """The table cells of one entry: medians over the rounds (ms) and the ratios to the reference's eager time."""

    def median(results: list[dict[str, float]], key: str) -> float | None:
        return statistics.median(r[key] for r in results) if results and key in results[0] else None

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value * 1e3:.0f}"

    def ratio(key: str, reference_key: str) -> str:
        value, against = median(ours, key), median(theirs, reference_key)
        return "n/a" if value is None or against is None else f"{value / against:.2f}"

    return [ms(median(ours, "eager")), ms(median(theirs, "eager")), ratio("eager", "eager"), ms(median(ours, "onnx")),
            ratio("onnx", "eager"), ratio("eager_cpu", "eager_cpu"), ratio("onnx_cpu", "eager_cpu")]


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        return "uptime unavailable"


def main() -> None:
    from lipreading.interop.tcn_reference import ZOO

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("entries", nargs="*", help=f"zoo entries (default: all): {', '.join(ZOO)}")
    parser.add_argument("--reference", type=Path, default=Path("/tmp/Lipreading_using_Temporal_Convolutional_Networks"),
                        help="a checkout of github.com/mpc001/Lipreading_using_Temporal_Convolutional_Networks")
    parser.add_argument("--rounds", type=int, default=3, help="alternating ours/reference process pairs per entry")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per process (after 2 warm-up runs)")
    parser.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime column")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: measure our network of this entry
    args = parser.parse_args()
    if args.child:
        torch.set_num_threads(1)
        print(json.dumps(measure_ours(args.child, args.repeats, not args.no_onnx)))
        return
    unknown = [e for e in args.entries if e not in ZOO]
    if unknown:
        parser.error(f"unknown zoo entries {unknown}; the zoo has: {', '.join(ZOO)}")
    entries = args.entries or list(ZOO)
    reference = args.reference
    if not (reference / "lipreading" / "model.py").is_file():
        print(f"No reference checkout at {reference} (no lipreading/model.py): skipping the reference's columns. "
              "Clone github.com/mpc001/Lipreading_using_Temporal_Convolutional_Networks and pass --reference PATH.\n")
        reference = None

    ours_env = one_thread_env(os.pathsep.join([str(ROOT / "src"), str(ROOT)]))
    reference_env = one_thread_env(None)  # the reference's package shares our package's name: keep ours off its path
    print(f"One clip (video 1x29x88x88, audio 29x640 samples), 1 thread, {NUM_CLASSES} classes, torch "
          f"{torch.__version__}; median of {args.rounds} alternating process rounds x {args.repeats} runs.")
    print(f"Start: {uptime()}\n")
    print("| zoo entry | our config | ours eager (ms) | reference eager (ms) | eager ratio | ONNX Runtime (ms) "
          "| ONNX Runtime ratio | eager ratio, CPU time | ONNX Runtime ratio, CPU time |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in entries:
        entry = ZOO[name]
        ours: list[dict[str, float]] = []
        theirs: list[dict[str, float]] = []
        for _ in range(args.rounds):
            command = [sys.executable, "-m", "benchmarks.latency_vs_reference", "--child", name,
                       "--repeats", str(args.repeats), *(["--no-onnx"] if args.no_onnx else [])]
            ours.append(run_child(command, ours_env))
            if reference is not None:
                theirs.append(run_child(
                    [sys.executable, str(REFERENCE_HELPER), "--reference", str(reference), "--config",
                     entry.reference_config, "--modality", entry.modality, "--repeats", str(args.repeats)],
                    reference_env))
        if theirs and theirs[0]["params"] != ours[0]["params"]:
            print(f"  ({name}: {ours[0]['params']:,} parameters here, {theirs[0]['params']:,} in the reference)")

        print(f"| {name} | `{' '.join(entry.overrides)}` | " + " | ".join(row_cells(ours, theirs)) + " |", flush=True)
    print(f"\nEnd: {uptime()}")


if __name__ == "__main__":
    main()
