"""Export a sentence checkpoint to ONNX (``export.py ckpt=SENTENCE.ckpt``), checked by decoding with ONNX Runtime.

A sentence model's search is a loop in Python, so it is exported as the graphs the loop calls, as
ESPnet's and seed 002's exports do: ``encoder.onnx`` is the encoder with its CTC head in one graph
(inputs ``video`` float ``(B, C, T, H, W)`` after the evaluation transform and ``lengths`` int64 ``(B,)``,
batch and time dynamic; outputs ``memory`` ``(B, T, D)``, ``ctc_log_probs`` ``(B, T, V)`` with a CTC head,
and the decoder's first state ``state.<name>``), and ``decoder_step.onnx`` is one decoder step
(``tokens`` int64 ``(N,)`` and the state -> ``logits`` ``(N, V)`` and the next state), written for models
with a decoder; a CTC-only model needs the encoder alone. ``sentence_model.json`` holds the units (the
tokenizer, its special ids), the state's names and the input the model expects, so
:class:`~lipreading.run.sentence_onnx.OnnxSentenceModel` decodes with nothing but ONNX Runtime.

The export is checked before it is kept: the encoder's outputs at another time length and batch than
its example must equal PyTorch's within ``tolerance``, the step's logits along a greedy decoding too,
and ONNX Runtime's greedy transcripts (the decoder's, and CTC's best path where there is a CTC head)
must be PyTorch's, token for token, on a sample: ``check_clip=PATH`` (a clip file) or random clips.
"""

from __future__ import annotations

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from lipreading.data.clip import load_clip
from lipreading.models.inference import optimize_for_inference
from lipreading.models.seq2seq import Seq2SeqNet
from lipreading.run.build import restore_task
from lipreading.run.checkpoint import Checkpoint
from lipreading.run.mouth import model_inputs
from lipreading.run.sentence_onnx import DESCRIPTION_FILE, ENCODER_FILE, STEP_FILE, OnnxSentenceModel
from lipreading.run.word_export import example_inputs
from lipreading.utils.errors import ConfigError
from lipreading.utils.io import atomic_write_json

log = logging.getLogger(__name__)

EXAMPLE_FRAMES = 32  # the tracing example's length when neither example_frames nor the record gives one


class EncoderGraph(nn.Module):
    """The encoder, its CTC head and the decoder's first state as one module: (video, lengths) -> tuple."""

    def __init__(self, net: Seq2SeqNet, state_names: list[str]) -> None:
        super().__init__()
        self.net, self.state_names = net, state_names

    def forward(self, video: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, ...]:
        memory = self.net.encode(video, lengths)  # (B, C, T, H, W) -> (B, T, D)
        outputs = [memory]
        if self.net.ctc_head is not None:
            outputs.append(self.net.ctc_log_probs(memory))  # (B, T, V)
        if self.net.decoder is not None:
            state = self.net.decoder.init_state(memory, lengths)
            outputs += [state[name] for name in self.state_names]
        return tuple(outputs)


class StepGraph(nn.Module):
    """One decoder step with its state as positional tensors: (tokens, *state) -> (logits, *next state)."""

    def __init__(self, decoder: nn.Module, state_names: list[str]) -> None:
        super().__init__()
        self.decoder, self.state_names = decoder, state_names

    def forward(self, tokens: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits, new = self.decoder.step(tokens, dict(zip(self.state_names, state)))  # (N,) -> (N, V)
        return (logits, *[new[name] for name in self.state_names])


def state_names(net: Seq2SeqNet) -> list[str]:
    """The names of the decoder's state (sorted), none without a decoder."""
    if net.decoder is None:
        return []
    with torch.no_grad():
        memory = torch.zeros(1, 2, net.backend.output_dim)
        return sorted(net.decoder.init_state(memory, torch.tensor([2])))


def dynamic_axes(name: str, value: torch.Tensor) -> dict[int, str]:
    """Every axis of a state tensor but the feature axis of a float tensor (batch, time, layers, prefix)."""
    fixed = value.dim() - 1 if value.is_floating_point() and value.dim() >= 2 else None
    return {i: "batch" if i == 0 else f"{name}_{i}" for i in range(value.dim()) if i != fixed}


@contextlib.contextmanager
def separate_attention_projections() -> Iterator[None]:
    """NOTE: torch's TorchScript-based ONNX exporter keeps the example's key length in the packed key/value
    projection that ``nn.MultiheadAttention`` takes when ``key is value`` (a decoder's attention over the
    encoder's frames), so the graph fails at any other length. While exporting, the three projections are
    computed one by one from the same weights, as ``multi_head_attention_forward`` does for distinct key and value."""
    packed = getattr(F, "_in_projection_packed", None)
    if packed is None:  # a torch without it: the check after the export tells whether it matters
        yield
        return

    def separate(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None = None):
        w_q, w_k, w_v = w.chunk(3)
        b_q, b_k, b_v = b.chunk(3) if b is not None else (None, None, None)
        return F.linear(q, w_q, b_q), F.linear(k, w_k, b_k), F.linear(v, w_v, b_v)

    F._in_projection_packed = separate
    try:
        yield
    finally:
        F._in_projection_packed = packed


def export_graph(module: nn.Module, inputs: tuple[torch.Tensor, ...], path: Path, input_names: list[str],
                 output_names: list[str], axes: dict[str, dict[int, str]], opset: int) -> Path:
    """Write ``module`` (eval mode) as ONNX with the given dynamic axes (TorchScript-based exporter)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    with warnings.catch_warnings(), separate_attention_projections():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python values
        torch.onnx.export(module, inputs, str(path), input_names=input_names, output_names=output_names,
                          dynamic_axes=axes, opset_version=opset, dynamo=False)
    module.eval()  # the exporter restores the mode the module had before (a wrapper's own is training)
    return path


def export_encoder(net: Seq2SeqNet, names: list[str], inputs: tuple[torch.Tensor, torch.Tensor], path: Path,
                   opset: int) -> list[str]:
    """Write ``encoder.onnx``; its output names."""
    outputs = ["memory"] + (["ctc_log_probs"] if net.ctc_head is not None else []) + [f"state.{n}" for n in names]
    axes = {"video": {0: "batch", 2: "time"}, "lengths": {0: "batch"}, "memory": {0: "batch", 1: "time"},
            "ctc_log_probs": {0: "batch", 1: "time"}}
    with torch.no_grad():
        values = EncoderGraph(net, names).eval()(*inputs)
    for name, value in zip(outputs, values):
        axes.setdefault(name, dynamic_axes(name, value))
    export_graph(EncoderGraph(net, names), inputs, path, ["video", "lengths"], outputs,
                 {k: v for k, v in axes.items() if k in outputs or k in ("video", "lengths")}, opset)
    return outputs


def export_step(net: Seq2SeqNet, names: list[str], state: dict[str, torch.Tensor], bos: int, path: Path, opset: int) -> None:
    """Write ``decoder_step.onnx``, traced from the first step after ``<bos>`` on ``state``."""
    tokens = torch.full((next(iter(state.values())).shape[0],), bos, dtype=torch.long)
    inputs = ["tokens"] + [f"state.{n}" for n in names]
    outputs = ["logits"] + [f"next.{n}" for n in names]
    axes = {"tokens": {0: "batch"}, "logits": {0: "batch"}}
    for n in names:
        axes[f"state.{n}"] = axes[f"next.{n}"] = dynamic_axes(n, state[n])
    export_graph(StepGraph(net.decoder, names), (tokens, *[state[n] for n in names]), path, inputs, outputs, axes, opset)


def float_difference(a: np.ndarray, b: torch.Tensor) -> float:
    """Largest |a - b| over the finite entries; inf where they are not finite in the same places."""
    b = b.numpy()
    if a.dtype == np.bool_ or not np.issubdtype(a.dtype, np.floating):
        return 0.0 if a.shape == b.shape and np.array_equal(a, b) else float("inf")
    if a.shape != b.shape or not np.array_equal(np.isfinite(a), np.isfinite(b)):
        return float("inf")
    finite = np.isfinite(a)
    return float(np.abs(a[finite] - b[finite]).max()) if finite.any() else 0.0


def step_difference(exported: OnnxSentenceModel, net: Seq2SeqNet, video: torch.Tensor, lengths: torch.Tensor,
                    steps: int) -> float:
    """Largest |ONNX - PyTorch| of the step's logits and state along ``steps`` steps fed ONNX's argmax tokens."""
    encoded = exported.encode(video.numpy(), lengths.numpy())
    state = {n: encoded[f"state.{n}"] for n in exported.state_names}
    tokens = np.full(video.shape[0], net.bos_id, dtype=np.int64)
    worst = 0.0
    with torch.no_grad():
        torch_state = net.decoder.init_state(net.encode(video, lengths), lengths)
        for _ in range(steps):
            values = exported.step.run(None, {"tokens": tokens, **{f"state.{n}": v for n, v in state.items()}})
            logits, torch_state = net.decoder.step(torch.from_numpy(tokens), torch_state)
            worst = max(worst, float_difference(values[0], logits),
                        *(float_difference(v, torch_state[n]) for n, v in zip(exported.state_names, values[1:])))
            state = dict(zip(exported.state_names, values[1:]))
            tokens = values[0].argmax(-1).astype(np.int64)
    return worst


def check_sample(cfg: DictConfig, checkpoint: Checkpoint, frames: int) -> tuple[torch.Tensor, torch.Tensor, str]:
    """The clips the transcripts are compared on: ``check_clip`` as the model reads it, or 3 random clips."""
    spec = checkpoint.input
    if cfg.get("check_clip"):
        clip = load_clip(cfg.check_clip)
        video, lengths = model_inputs(clip, checkpoint)
        return video, lengths, str(cfg.check_clip)
    video, lengths = example_inputs(spec["channels"], frames, spec["crop_size"], batch=3, seed=2)
    return video, lengths, f"3 random clips of up to {frames} frames"


def export_sentences(cfg: DictConfig, checkpoint: Checkpoint) -> Path:
    """Export the sentence checkpoint ``cfg.ckpt`` to ONNX in a directory (``cfg.output`` or the run dir); check it."""
    if cfg.format != "onnx":
        raise ConfigError(f"format={cfg.format!r}: sentence checkpoints are exported to ONNX only (format=onnx); "
                          "TorchScript applies to word classifiers")
    spec = checkpoint.input
    if spec["modality"] != "video":
        raise ConfigError(f"{checkpoint.path} reads {spec['modality']} (modality={spec['modality']}); export.py exports "
                          "video-only sentence models")
    task, _ = restore_task(checkpoint)
    reference: Seq2SeqNet = task.net.eval()
    net = optimize_for_inference(reference) if cfg.optimize else reference
    units, names = task.tokenizer, state_names(reference)
    frames = int(cfg.example_frames or spec["num_frames"] or EXAMPLE_FRAMES)
    directory = Path(cfg.output or cfg.paths.output_dir)
    max_length = int(task.decoding["max_length"])

    start = time.perf_counter()
    example = example_inputs(spec["channels"], frames, spec["crop_size"], use_boundary=False)
    export_encoder(net, names, example, directory / ENCODER_FILE, cfg.opset)
    if reference.decoder is not None:
        with torch.no_grad():
            state = net.decoder.init_state(net.encode(*example), example[1])
        export_step(net, names, state, reference.bos_id, directory / STEP_FILE, cfg.opset)
    seconds = time.perf_counter() - start
    description = {
        "checkpoint": str(cfg.ckpt),
        "format": "onnx",
        "files": [ENCODER_FILE] + ([STEP_FILE] if reference.decoder is not None else []),
        "inputs": {
            "video": f"float32 (batch, {spec['channels']}, time, {spec['crop_size']}, {spec['crop_size']}): uint8 "
                     f"frames centre-cropped to {spec['crop_size']}x{spec['crop_size']}, scaled to [0, 1], then "
                     "(x - mean) / std",
            "lengths": "int64 (batch,): valid frames of each clip (frames beyond are padding)",
        },
        "encoder_outputs": "memory (batch, time, D); ctc_log_probs (batch, time, units) with a CTC head; "
                           "state.<name>: the decoder's state before the first token",
        "decoder_step": "tokens int64 (N,), state.<name> -> logits (N, units), next.<name>: feed next.* back as "
                        "state.*, start from <bos>, stop at <eos>" if reference.decoder is not None else None,
        "ctc": reference.ctc_head is not None,
        "decoder": type(reference.decoder).__name__ if reference.decoder is not None else None,
        "decoder_state": names,
        "units": units.to_dict(),
        "special_ids": {"blank": units.blank_id, "pad": units.pad_id, "bos": units.bos_id, "eos": units.eos_id,
                        "unk": units.unk_id},
        "max_length": max_length,
        "mean": spec["mean"], "std": spec["std"], "crop_size": spec["crop_size"], "fps": spec["fps"],
        "example_frames": frames,
    }
    atomic_write_json(directory / DESCRIPTION_FILE, description)
    checks = check_export(cfg, checkpoint, reference, directory, frames, max_length)
    atomic_write_json(directory / DESCRIPTION_FILE, {**description, **checks})
    log.info("exported %s to %s in %.1f s; checked: %s", cfg.ckpt, directory, seconds, checks)
    print(f"{directory} (onnx: {', '.join(description['files'])}; greedy transcripts of ONNX Runtime equal "
          f"PyTorch's on {checks['check']['sample']}; max |difference| {checks['max_abs_difference']})")
    return directory


def check_export(cfg: DictConfig, checkpoint: Checkpoint, reference: Seq2SeqNet, directory: Path, frames: int,
                 max_length: int) -> dict[str, Any]:
    """Compare the exported graphs with ``reference`` (PyTorch); :class:`ConfigError` where they differ."""
    exported = OnnxSentenceModel(directory)
    check_frames = int(cfg.check_frames or frames + 11)
    spec = checkpoint.input
    video, lengths = example_inputs(spec["channels"], check_frames, spec["crop_size"], batch=3, seed=1)
    try:
        encoded = exported.encode(video.numpy(), lengths.numpy())
        with torch.no_grad():
            expected = EncoderGraph(reference, exported.state_names).eval()(video, lengths)
        differences = {"encoder": max(float_difference(encoded[name], value)
                                      for name, value in zip(exported.encoder_outputs, expected))}
        if reference.decoder is not None:
            differences["decoder_step"] = step_difference(exported, reference, video, lengths, min(8, check_frames))
    except Exception as e:
        if not type(e).__module__.startswith("onnxruntime"):
            raise
        raise ConfigError(f"{directory}: ONNX Runtime cannot run the export at {check_frames} frames and batch 3 "
                          f"({str(e).splitlines()[0][:300]}); the model has an operation the ONNX export does not "
                          "keep dynamic") from e
    for graph, difference in differences.items():
        if not difference <= cfg.tolerance:
            raise ConfigError(
                f"{directory}: the exported {graph} differs from PyTorch by {difference:.2e} at {check_frames} frames "
                f"(tolerance {cfg.tolerance}); the model has an operation the ONNX export does not keep dynamic")
    video, lengths, sample = check_sample(cfg, checkpoint, check_frames)
    methods = ["greedy"] if reference.decoder is not None else []
    methods += ["ctc_greedy"] if reference.ctc_head is not None else []
    transcripts: dict[str, Any] = {}
    for method in methods:
        ours = exported.decode(video.numpy(), lengths.numpy(), method, max_length)
        theirs = reference.decode(video, lengths, method=method, max_length=max_length)
        if ours != theirs:
            raise ConfigError(f"{directory}: ONNX Runtime's {method} decoding gives {ours}, PyTorch's {theirs} on "
                              f"{sample}; the export is not faithful")
        transcripts[method] = [exported.units.decode(ids) for ids in ours]
    return {"checked_at_frames": check_frames, "max_abs_difference": differences,
            "check": {"sample": sample, "transcripts": transcripts}}

