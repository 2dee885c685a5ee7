"""Separation checkpoints: batch evaluation over fixed mixtures (``eval.py``) and one video's separation (``infer.py``).

Evaluation (``python eval.py ckpt=...``) writes into the run dir: ``mixtures.csv`` (one row per mixture: its clips, level and every metric),
``metrics.json`` (the averages), ``by_level.csv`` (SI-SDRi per target-to-interferer level) and, for
the first ``eval.num_examples`` mixtures, ``examples/NNN/`` with the WAVs and spectrogram PNG.
The metrics run in ``eval.workers`` processes with one thread each (BSS-eval and STOI are numpy).
``mixtures.jsonl`` records each measured mixture at once: run again after a kill, the evaluation
continues where it stopped.

Inference (``python infer.py video=PATH ckpt=SEPARATION_CKPT``) separates the speaker whose mouth the
video shows: the mouth is tracked and cropped as for
lipreading (``cropped=true``: the video already shows only the mouth; a ``.npz`` clip is read as it
is), the audio track is decoded (16 kHz mono, trimmed to the video), and the checkpoint separates
it. Writes into the run dir: ``separated.wav`` (the target), ``residual.wav`` (the mixture minus
the target), ``mixture.wav`` and ``spectrograms.png``; an audio-only checkpoint writes
``speaker1.wav``, ``speaker2.wav``, ... (it cannot know which one is the target).
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

from lipreading.data.audio import align_audio, clip_audio, read_audio_track, write_wav
from lipreading.data.clip import Clip, load_clip
from lipreading.reports.separation import (
    by_level, mixture_metrics, pesq_available, plot_spectrograms, summarise, write_example,
)
from lipreading.run.build import restore_task
from lipreading.run.checkpoint import Checkpoint
from lipreading.run.mouth import model_inputs, read_mouth
from lipreading.utils.errors import ConfigError
from lipreading.utils.io import atomic_write_json, atomic_write_text
from lipreading.utils.journal import Journal

log = logging.getLogger(__name__)


def _one_thread() -> None:
    torch.set_num_threads(1)


def _metrics_of(job: tuple[np.ndarray, np.ndarray, np.ndarray, bool]) -> dict[str, float]:
    return mixture_metrics(*job)


RECORD_FIELDS = ("index", "target", "interferers", "level_db", "noise_snr_db")


def mixtures_of(outputs: list[dict[str, Any]], samples_per_frame: int) -> list[dict[str, Any]]:
    """One record per mixture from the predict outputs, its signals cut to its valid samples."""
    records = []
    for batch in outputs:
        for b in range(len(batch["lengths"])):
            length = int(batch["lengths"][b]) * samples_per_frame
            records.append({
                "index": int(batch["index"][b]),
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


def mixtures_csv(rows: list[dict[str, Any]]) -> str:
    """One row per mixture: its index, target clip, interferers, level, noise SNR, then every metric."""
    names = [n for n in rows[0] if n not in RECORD_FIELDS] if rows else []
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*RECORD_FIELDS, *names])
    for row in rows:
        writer.writerow([row["index"], row["target"], " ".join(row["interferers"]), f"{row['level_db']:.2f}",
                         f"{row['noise_snr_db']:.2f}", *(f"{row[n]:.4f}" for n in names)])
    return out.getvalue()


def evaluation_identity(cfg: DictConfig, num_mixtures: int, with_pesq: bool) -> dict[str, Any]:
    """What makes two evaluations the same job: the checkpoint file, the split, the mixtures, the metrics."""
    ckpt = Path(cfg.ckpt).resolve()
    stat = ckpt.stat()
    return {"checkpoint": str(ckpt), "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "split": cfg.split,
            "num_mixtures": num_mixtures, "pesq": with_pesq,
            "data": OmegaConf.to_container(cfg.data, resolve=True) if cfg.get("data") else {}}


def evaluate_separation(cfg: DictConfig, checkpoint: Checkpoint) -> dict[str, float]:
    """Separate ``eval.num_mixtures`` fixed mixtures of ``cfg.split`` and measure them (see the module doc).

    ``eval.chunk_mixtures`` mixtures at a time: each chunk's rows are recorded in ``mixtures.jsonl`` as
    soon as they are measured (and its examples written), so the same command run again after a kill
    continues with the mixtures not measured yet and ends with the same files.
    """
    for option in ("tta", "save_log_probs"):
        if cfg.get(option):
            raise ConfigError(f"{option}={cfg.get(option)} applies to word checkpoints; {cfg.ckpt} is a separation checkpoint")
    task, train_cfg = restore_task(checkpoint)
    options = cfg.get("eval") or {}
    datamodule = hydra.utils.instantiate(OmegaConf.merge(train_cfg.data, cfg.get("data") or {}))
    if options.get("num_mixtures"):
        if cfg.split == "train":
            raise ConfigError("eval.num_mixtures applies to the val and test splits (train mixes every clip once)")
        datamodule.set_num_mixtures(cfg.split, int(options["num_mixtures"]))
    datamodule.predict_split = cfg.split
    datamodule.prepare_data()
    choice = options.get("pesq", "auto")
    if choice not in ("auto", True, False):
        raise ConfigError(f"eval.pesq={choice!r}: use auto (when the pesq package is installed), true or false")
    with_pesq = pesq_available() if choice == "auto" else bool(choice)
    if with_pesq and not pesq_available():
        raise ConfigError("eval.pesq=true needs the optional pesq package: pip install '.[pesq]' (it compiles C code)")
    workers = int(options.get("workers") or os.cpu_count() or 1)
    datamodule.setup_split(cfg.split)
    num_mixtures = len(datamodule.mixtures[cfg.split])
    output_dir = Path(cfg.paths.output_dir)
    journal = Journal(output_dir / "mixtures.jsonl", evaluation_identity(cfg, num_mixtures, with_pesq))
    todo = [i for i in range(num_mixtures) if i not in journal.done]
    if journal.done:
        log.info("%s: continuing an interrupted evaluation: %d of %d mixtures were measured before",
                 output_dir, num_mixtures - len(todo), num_mixtures)
    trainer = hydra.utils.instantiate(cfg.trainer)
    num_examples, chunk = int(options.get("num_examples", 5)), max(1, int(options.get("chunk_mixtures") or 64))
    for start in range(0, len(todo), chunk):
        datamodule.predict_indices = todo[start : start + chunk]
        records = mixtures_of(trainer.predict(task, datamodule=datamodule), checkpoint.input["samples_per_frame"])
        rows = compute_metrics(records, workers, with_pesq)
        for record, row in zip(records, rows):
            if record["index"] < num_examples:
                title = f"{Path(record['target']).stem}: level {record['level_db']:+.1f} dB, SI-SDRi {row['si_sdri']:.1f} dB"
                write_example(output_dir / "examples" / f"{record['index']:03d}", record["mixture"], record["estimate"],
                              record["sources"], title)
        measured = {record["index"] for record in records}
        journal.append([*({**{k: r[k] for k in RECORD_FIELDS}, **row} for r, row in zip(records, rows)),
                        *({"index": i, "skipped": True} for i in datamodule.predict_indices if i not in measured)])
    rows = [row for _, row in sorted(journal.done.items()) if not row.get("skipped")]
    if not rows:
        raise ConfigError(f"no mixture of the {cfg.split} split could be made (all clips unreadable?)")
    summary = {f"{cfg.split}/{k}": v for k, v in summarise(rows).items()}
    levels = by_level(rows)
    atomic_write_json(output_dir / "metrics.json", {
        "checkpoint": str(cfg.ckpt), "modality": checkpoint.input["modality"], "pesq": with_pesq, **summary,
        "by_level": levels,
        "note": "audio-only models: the output that best matches the target (PIT assignment) is scored",
    })
    atomic_write_text(output_dir / "mixtures.csv", mixtures_csv(rows))
    atomic_write_text(output_dir / "by_level.csv", _levels_csv(levels))
    log.info("%s: %s (written to %s)", cfg.ckpt, summary, output_dir)
    return summary


def _levels_csv(levels: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["level_db", "mixtures", "input_si_sdr", "si_sdr", "si_sdri"])
    for level in levels:
        writer.writerow([level["level_db"], level["mixtures"], *(f"{level[k]:.3f}" for k in ("input_si_sdr", "si_sdr", "si_sdri"))])
    return out.getvalue()


def recording_audio(video: str | Path, num_frames: int, fps: float) -> np.ndarray:
    """The 16 kHz mono audio of ``video`` (a video file's first audio track, or a clip's audio),
    trimmed or padded to ``num_frames`` frames; :class:`AudioError` naming the file if it has none."""
    path = Path(video)
    if path.suffix == ".npz":
        return clip_audio(load_clip(path), path)
    audio, rate = read_audio_track(path)
    return align_audio(audio, int(rate), num_frames, fps, str(path), policy="trim")


def separate_clip(task: Any, checkpoint: Checkpoint, mouth: Clip, audio: np.ndarray) -> np.ndarray:
    """The separator's estimates (S, N) of the mixture ``audio`` (N,) given the mouth clip (T, H, W)."""
    video, lengths = model_inputs(mouth, checkpoint)  # (1, T, H, W) uint8 -> (1, 1, T, h, w)
    with torch.no_grad():
        estimates = task(torch.from_numpy(audio)[None], lengths, video if checkpoint.input["modality"] == "av" else None)
    return estimates[0].numpy()


def infer_separation(cfg: DictConfig, checkpoint: Checkpoint) -> dict[str, Any]:
    """Separate the speaker ``cfg.video`` shows with a separation checkpoint; write the WAVs (see module doc)."""
    task, _ = restore_task(checkpoint)
    modality = checkpoint.input["modality"]
    clip = read_mouth(cfg, checkpoint)
    mixture = recording_audio(cfg.video, clip.num_frames, clip.fps)
    estimates = separate_clip(task, checkpoint, clip, mixture)
    output_dir = Path(cfg.paths.output_dir)
    peak = max(float(np.abs(mixture).max()), float(np.abs(estimates).max()), 1e-6)
    scale = min(1.0, 0.99 / peak)  # the input's level, unless that would clip
    files = {"mixture": write_wav(output_dir / "mixture.wav", mixture * scale)}
    if modality == "av":
        files["separated"] = write_wav(output_dir / "separated.wav", estimates[0] * scale)
        files["residual"] = write_wav(output_dir / "residual.wav", (mixture - estimates[0]) * scale)
        panels = {"mixture": mixture, "separated (target)": estimates[0]}
    else:
        for i, estimate in enumerate(estimates, 1):
            files[f"speaker{i}"] = write_wav(output_dir / f"speaker{i}.wav", estimate * scale)
        panels = {"mixture": mixture, **{f"speaker {i}": e for i, e in enumerate(estimates, 1)}}
    files["spectrograms"] = plot_spectrograms(panels, output_dir / "spectrograms.png", Path(cfg.video).name)
    summary = {"video": str(cfg.video), "checkpoint": str(cfg.ckpt), "modality": modality,
               "frames": clip.num_frames, "seconds": len(mixture) / checkpoint.input["audio_rate"], "files": {k: str(v) for k, v in files.items()}}
    atomic_write_json(output_dir / "separation.json", summary)
    for name, path in files.items():
        print(f"{name:>12s}  {path}")
    return summary


def refuse_export(cfg: DictConfig, checkpoint: Checkpoint) -> None:
    """export.py exports word classifiers only."""
    raise ConfigError(f"{checkpoint.path} is a separation checkpoint; export.py exports word classifiers")
