"""Batch evaluation of a separation checkpoint over many fixed mixtures (``python eval.py ckpt=...``).

Writes into the run dir: ``mixtures.csv`` (one row per mixture: its clips, level and every metric),
``metrics.json`` (the averages), ``by_level.csv`` (SI-SDRi per target-to-interferer level) and, for
the first ``eval.num_examples`` mixtures, ``examples/NNN/`` with the WAVs and spectrogram PNG.
The metrics run in ``eval.workers`` processes with one thread each (BSS-eval and STOI are numpy).
"""

from __future__ import annotations

import csv
import io
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from lipreading.reports.separation import by_level, mixture_metrics, pesq_available, summarise, write_example
from lipreading.utils.errors import ConfigError
from lipreading.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


def _one_thread() -> None:
    torch.set_num_threads(1)


def _metrics_of(job: tuple[np.ndarray, np.ndarray, np.ndarray, bool]) -> dict[str, float]:
    return mixture_metrics(*job)


def mixtures_of(outputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One record per mixture from the predict outputs, its signals cut to its valid samples."""
    records = []
    for batch in outputs:
        per_frame = batch["mixture"].shape[1] // int(batch["lengths"].max())
        for b in range(len(batch["lengths"])):
            length = int(batch["lengths"][b]) * per_frame
            records.append({
                "target": batch["path"][b],
                "interferers": list(batch["interferers"][b]),
                "level_db": float(batch["level_db"][b, 0]),
                "noise_snr_db": float(batch["noise_snr_db"][b]),
                "mixture": batch["mixture"][b, :length].double().numpy(),
                "sources": batch["sources"][b, :, :length].double().numpy(),
                "estimate": batch["target_estimate"][b, :length].double().numpy(),
            })
    return records


def compute_metrics(records: list[dict[str, Any]], workers: int, with_pesq: bool) -> list[dict[str, float]]:
    """The metrics of every record, in ``workers`` single-threaded processes (in this one if 1)."""
    jobs = [(r["estimate"], r["sources"], r["mixture"], with_pesq) for r in records]
    if workers <= 1:
        return [_metrics_of(job) for job in jobs]
    context = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_one_thread) as pool:
        return list(pool.map(_metrics_of, jobs, chunksize=max(1, len(jobs) // (4 * workers))))


def mixtures_csv(records: list[dict[str, Any]], rows: list[dict[str, float]]) -> str:
    """One row per mixture: index, target clip, interferers, level, noise SNR, then every metric."""
    names = list(rows[0]) if rows else []
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["index", "target", "interferers", "level_db", "noise_snr_db", *names])
    for i, (record, row) in enumerate(zip(records, rows)):
        writer.writerow([i, record["target"], " ".join(record["interferers"]), f"{record['level_db']:.2f}",
                         f"{record['noise_snr_db']:.2f}", *(f"{row[n]:.4f}" for n in names)])
    return out.getvalue()


def evaluate_separation(cfg: DictConfig, checkpoint: dict[str, Any]) -> dict[str, float]:
    """Separate ``eval.num_mixtures`` fixed mixtures of ``cfg.split`` and measure them (see the module doc)."""
    from lipreading.evaluation import restore_task  # evaluation dispatches here

    task, train_cfg = restore_task(checkpoint, cfg.ckpt)
    options = cfg.get("eval") or {}
    datamodule = hydra.utils.instantiate(OmegaConf.merge(train_cfg.data, cfg.get("data") or {}))
    if options.get("num_mixtures"):
        if cfg.split == "train":
            raise ConfigError("eval.num_mixtures applies to the val and test splits (train mixes every clip once)")
        datamodule.set_num_mixtures(cfg.split, int(options["num_mixtures"]))
    datamodule.predict_split = cfg.split
    datamodule.prepare_data()
    trainer = hydra.utils.instantiate(cfg.trainer)
    records = mixtures_of(trainer.predict(task, datamodule=datamodule))
    if not records:
        raise ConfigError(f"no mixture of the {cfg.split} split could be made (all clips unreadable?)")
    choice = options.get("pesq", "auto")
    if choice not in ("auto", True, False):
        raise ConfigError(f"eval.pesq={choice!r}: use auto (when the pesq package is installed), true or false")
    with_pesq = pesq_available() if choice == "auto" else bool(choice)
    if with_pesq and not pesq_available():
        raise ConfigError("eval.pesq=true needs the optional pesq package: pip install '.[pesq]' (it compiles C code)")
    workers = int(options.get("workers") or os.cpu_count() or 1)
    rows = compute_metrics(records, workers, with_pesq)
    output_dir = Path(cfg.paths.output_dir)
    summary = {f"{cfg.split}/{k}": v for k, v in summarise(rows).items()}
    levels = by_level([{**row, "level_db": record["level_db"]} for record, row in zip(records, rows)])
    atomic_write_json(output_dir / "metrics.json", {
        "checkpoint": str(cfg.ckpt), "modality": train_cfg.get("modality"), "pesq": with_pesq, **summary,
        "by_level": levels,
        "note": "audio-only models: the output that best matches the target (PIT assignment) is scored",
    })
    atomic_write_text(output_dir / "mixtures.csv", mixtures_csv(records, rows))
    atomic_write_text(output_dir / "by_level.csv", _levels_csv(levels))
    for i, (record, row) in enumerate(zip(records[: int(options.get("num_examples", 5))], rows)):
        title = f"{Path(record['target']).stem}: level {record['level_db']:+.1f} dB, SI-SDRi {row['si_sdri']:.1f} dB"
        write_example(output_dir / "examples" / f"{i:03d}", record["mixture"], record["estimate"], record["sources"], title)
    log.info("%s: %s (written to %s)", cfg.ckpt, summary, output_dir)
    return summary


def _levels_csv(levels: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["level_db", "mixtures", "input_si_sdr", "si_sdr", "si_sdri"])
    for level in levels:
        writer.writerow([level["level_db"], level["mixtures"], *(f"{level[k]:.3f}" for k in ("input_si_sdr", "si_sdr", "si_sdri"))])
    return out.getvalue()
