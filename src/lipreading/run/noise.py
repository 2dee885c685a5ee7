"""Accuracy against the signal-to-noise ratio: audio, video and audio-visual checkpoints side by side.

Each checkpoint is rebuilt from its own config and evaluated on one split at every SNR (clean,
20, 10, 5, 0, -5 dB by default) with one kind of additive noise (:mod:`lipreading.data.noise`),
the same noise for every model (seeded). A video-only model hears nothing, so its accuracy is the
same at every SNR (evaluated once). Writes ``snr_<noise>.csv``, ``snr.md`` and ``snr.png``.

    python -m lipreading.run.noise audio=A.ckpt video=V.ckpt av=AV.ckpt --noise white babble --output DIR
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import hydra
import torch
from torch.utils.data import DataLoader

from lipreading.data.noise import NOISE_KINDS, AudioNoise, CleanAudio
from lipreading.data.word_clips import collate_clips
from lipreading.run.build import restore_task
from lipreading.run.checkpoint import read_checkpoint
from lipreading.utils.io import atomic_write_text

log = logging.getLogger(__name__)

SNRS_DB: tuple[float | None, ...] = (None, 20.0, 10.0, 5.0, 0.0, -5.0)
"""The evaluated conditions; None is the clean audio."""


def snr_label(snr: float | None) -> str:
    return "clean" if snr is None else f"{snr:g} dB"


@torch.no_grad()
def _accuracy(task: torch.nn.Module, datamodule, loader: DataLoader) -> float:
    correct = total = 0
    for batch in loader:
        if "video" not in batch:
            continue
        batch = datamodule.on_after_batch_transfer(batch, 0)
        logits = task(batch["video"], batch["lengths"], batch.get("boundary"), batch.get("audio"))
        correct += int((logits.argmax(-1) == batch["label"]).sum())
        total += len(batch["label"])
    return correct / max(total, 1)


def accuracy_against_snr(
    checkpoints: Mapping[str, str | Path],
    noise: str = "babble",
    snrs: Sequence[float | None] = SNRS_DB,
    split: str = "test",
    batch_size: int = 64,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """``{model name: {condition: top-1 accuracy}}`` for each checkpoint at each SNR of ``noise``."""
    if noise not in NOISE_KINDS:
        raise ValueError(f"unknown noise {noise!r}; valid: {', '.join(NOISE_KINDS)}")
    table: dict[str, dict[str, float]] = {}
    for name, path in checkpoints.items():
        task, config = restore_task(read_checkpoint(path))
        datamodule = hydra.utils.instantiate(config.data)
        datamodule.prepare_data()
        datamodule.setup_split(split)
        loader = DataLoader(datamodule.datasets[split], batch_size=batch_size, shuffle=False, collate_fn=collate_clips)
        row: dict[str, float] = {}
        for snr in snrs:
            if not datamodule.with_audio and row:  # video only: the noise cannot change anything
                row[snr_label(snr)] = next(iter(row.values()))
                continue
            datamodule.audio_eval_transform = (
                CleanAudio() if snr is None else AudioNoise([noise], (snr, snr), prob=1.0, seed=seed)
            )
            row[snr_label(snr)] = _accuracy(task, datamodule, loader)
            log.info("%s, %s %s: %.4f", name, noise, snr_label(snr), row[snr_label(snr)])
        table[name] = row
    return table


def markdown_table(table: Mapping[str, Mapping[str, float]], noise: str) -> str:
    """One row per model, one column per condition, top-1 accuracy in percent."""
    conditions = list(next(iter(table.values())))
    lines = [f"| model ({noise} noise) | " + " | ".join(conditions) + " |", "|---" * (len(conditions) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(f"{100 * row[c]:.1f}" for c in conditions) + " |" for name, row in table.items()]
    return "\n".join(lines) + "\n"


def write_snr_report(tables: Mapping[str, Mapping[str, Mapping[str, float]]], output_dir: str | Path) -> Path:
    """``snr_<noise>.csv`` per noise, ``snr.md`` with every table and ``snr.png`` (one panel per noise)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    markdown = []
    figure, axes = plt.subplots(1, len(tables), figsize=(5 * len(tables), 3.6), squeeze=False)
    for axis, (noise, table) in zip(axes[0], tables.items()):
        conditions = list(next(iter(table.values())))
        csv = "model," + ",".join(conditions) + "\n" + "".join(
            f"{name}," + ",".join(f"{row[c]:.4f}" for c in conditions) + "\n" for name, row in table.items()
        )
        atomic_write_text(output_dir / f"snr_{noise}.csv", csv)
        markdown.append(markdown_table(table, noise))
        positions = list(range(len(conditions)))
        for name, row in table.items():
            axis.plot(positions, [100 * row[c] for c in conditions], marker="o", label=name)
        axis.set_xticks(positions, conditions)
        axis.set_xlabel(f"SNR ({noise} noise)")
        axis.set_ylabel("top-1 accuracy (%)")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    figure.savefig(output_dir / "snr.png", dpi=120)
    plt.close(figure)
    atomic_write_text(output_dir / "snr.md", "\n".join(markdown))
    return output_dir / "snr.md"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", help="NAME=PATH of each checkpoint (e.g. audio=a.ckpt)")
    parser.add_argument("--noise", nargs="+", default=["babble"], choices=NOISE_KINDS)
    parser.add_argument("--split", default="test")
    parser.add_argument("--output", default=".")
    args = parser.parse_args(argv)
    pairs = [c.split("=", 1) for c in args.checkpoints]
    if any(len(p) != 2 for p in pairs):
        parser.error("give each checkpoint as NAME=PATH")
    tables = {noise: accuracy_against_snr(dict(pairs), noise, split=args.split) for noise in args.noise}
    print(Path(write_snr_report(tables, args.output)).read_text())


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    main()
