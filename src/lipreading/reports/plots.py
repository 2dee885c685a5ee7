"""PNG figures for reports and dashboards (matplotlib's Agg canvas: no display, no global pyplot state)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from matplotlib.figure import Figure
from PIL import Image

# One series: (step, value) points.
Series = list[tuple[int, float]]


def save_figure(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as PNG atomically (a dashboard reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    figure.savefig(tmp, dpi=100, bbox_inches="tight")
    os.replace(tmp, path)
    return path


def plot_confusion_matrix(confusion: torch.Tensor, vocabulary: Sequence[str], path: Path, title: str = "") -> Path:
    """Row-normalised confusion matrix (true words down, predictions across).

    Word names label the axes up to 60 classes; larger vocabularies show the matrix alone.
    """
    num_classes = len(vocabulary)
    rates = confusion.double() / confusion.sum(1, keepdim=True).clamp(min=1)
    side = min(4 + 0.25 * num_classes, 24)
    figure = Figure(figsize=(side, side))
    axes = figure.add_subplot()
    image = axes.imshow(rates.numpy(), cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true word's clips")
    if num_classes <= 60:
        axes.set_xticks(range(num_classes), vocabulary, rotation=90, fontsize=7)
        axes.set_yticks(range(num_classes), vocabulary, fontsize=7)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    return save_figure(figure, path)


def plot_learning_curves(history: dict[str, Series], path: Path) -> Path:
    """One panel per quantity (``loss``, ``acc``, ``lr-AdamW`` ...), one line per stage (``train/``, ``val/``)."""
    panels: dict[str, dict[str, Series]] = {}
    for name, series in sorted(history.items()):
        stage, _, quantity = name.rpartition("/")
        panels.setdefault(quantity, {})[stage or name] = series
    columns = min(3, max(1, len(panels)))
    rows = math.ceil(len(panels) / columns) if panels else 1
    figure = Figure(figsize=(5 * columns, 3.5 * rows), layout="constrained")
    for i, (quantity, lines) in enumerate(panels.items()):
        axes = figure.add_subplot(rows, columns, i + 1)
        for stage, series in lines.items():
            steps, values = zip(*series)
            axes.plot(steps, values, marker="o" if len(series) < 30 else None, markersize=3, label=stage)
        axes.set_title(quantity)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    return save_figure(figure, path)


def clip_strip(video: np.ndarray, frames: int = 8) -> np.ndarray:
    """``frames`` evenly spaced frames of a ``(T, H, W)`` uint8 clip side by side -> ``(H, frames*W)``."""
    index = np.linspace(0, len(video) - 1, min(frames, len(video))).round().astype(int)
    return np.concatenate(list(video[index]), axis=1)


def plot_clip_strips(videos: Sequence[np.ndarray], captions: Sequence[str], path: Path, frames: int = 8) -> Path:
    """One row per clip (``frames`` frames of it) titled with its caption (e.g. truth -> prediction)."""
    strips = [clip_strip(v, frames) for v in videos]
    figure = Figure(figsize=(frames * 1.1, 1.4 * len(strips) + 0.3))
    for i, (strip, caption) in enumerate(zip(strips, captions)):
        axes = figure.add_subplot(len(strips), 1, i + 1)
        axes.imshow(strip, cmap="gray", vmin=0, vmax=255)
        axes.set_title(caption, fontsize=9, loc="left")
        axes.axis("off")
    return save_figure(figure, path)


def write_gif(video: np.ndarray, path: Path, fps: float = 25.0) -> Path:
    """A ``(T, H, W)`` uint8 clip as an animated GIF (what W&B shows as a video without moviepy)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.fromarray(frame) for frame in video]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
    return path


def uint8_frames(video: torch.Tensor) -> np.ndarray:
    """A normalised ``(C, T, H, W)`` or ``(T, H, W)`` model input back to displayable ``(T, H, W)`` uint8.

    Min-max scaled per clip: the figures show the motion, not the absolute brightness.
    """
    video = video.detach().float().cpu()
    if video.dim() == 4:
        video = video[0]  # (C, T, H, W) -> (T, H, W): the grey channel
    low, high = video.min(), video.max()
    return ((video - low) / (high - low).clamp(min=1e-6) * 255).round().to(torch.uint8).numpy()
