"""The separation benchmark by condition: ``python eval.py ckpt=... eval.conditions=all``.

Each condition of the data config (``data.conditions``: different speakers, different sex, one sex with
close base pitch, the same voice saying two words, three speakers, background noise) is a fixed,
seeded test set of its own; the checkpoint separates ``eval.num_mixtures`` mixtures of each and this
writes into the run dir ``conditions.json`` and ``conditions.md``: per condition the mean input SI-SDR,
SI-SDRi, SDR, SDRi and the target-selection accuracy, the share of mixtures where the output the
audio-visual model picks (from the lips, no oracle) is the one closest to the target (highest SI-SDR).
An audio-only model cannot pick: its best-matching output is scored (the oracle assignment of PIT
evaluations) and its selection accuracy is left empty.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, ListConfig, OmegaConf

from lipreading.reports.separation import distortion_metrics
from lipreading.reports.tables import markdown_table
from lipreading.run import separation
from lipreading.run.build import restore_task
from lipreading.run.checkpoint import Checkpoint
from lipreading.tasks.separation_losses import si_sdr
from lipreading.utils.errors import ConfigError
from lipreading.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

COLUMNS = ("mixtures", "input_si_sdr", "si_sdri", "si_sdri_median", "sdr", "sdri", "selection_acc")


def evaluate(cfg: DictConfig, checkpoint: Checkpoint) -> dict[str, float]:
    """eval.py on a separation checkpoint: by condition with ``eval.conditions``, else the split's mixtures."""
    if (cfg.get("eval") or {}).get("conditions"):
        return evaluate_conditions(cfg, checkpoint)
    return separation.evaluate_separation(cfg, checkpoint)


def condition_names(choice: Any, defined: dict[str, Any]) -> list[str]:
    """The conditions ``eval.conditions`` names: ``all``, one name or a list; an unknown name is an error listing the defined ones."""
    names = list(defined) if choice == "all" else [str(c) for c in choice] if isinstance(choice, (list, tuple, ListConfig)) else [str(choice)]
    unknown = [n for n in names if n not in defined]
    if unknown or not names:
        known = ", ".join(defined) or "none (this checkpoint's data config has no conditions; set data.conditions)"
        raise ConfigError(f"eval.conditions={choice}: unknown condition(s) {unknown}; defined: {known}, or all")
    return names


def selection_hits(outputs: list[dict[str, Any]], samples_per_frame: int) -> list[bool]:
    """Per mixture: whether output 0 (the one an audio-visual model picks) is the output closest to the target."""
    hits = []
    for batch in outputs:
        for b in range(len(batch["lengths"])):
            length = int(batch["lengths"][b]) * samples_per_frame
            estimates = batch["estimates"][b, :, :length].double()  # (S_out, N)
            target = batch["sources"][b, :1, :length].double().expand_as(estimates)
            hits.append(int(si_sdr(estimates, target).argmax()) == 0)
    return hits


def condition_summary(rows: list[dict[str, float]], hits: list[bool] | None) -> dict[str, float]:
    """Means over a condition's mixtures (and the median SI-SDRi); the selection accuracy when the model picks."""
    summary = {name: float(np.mean([r[name] for r in rows])) for name in ("input_si_sdr", "si_sdri", "sdr", "sdri")}
    summary["si_sdri_median"] = float(np.median([r["si_sdri"] for r in rows]))
    summary["mixtures"] = float(len(rows))
    summary["selection_acc"] = float(np.mean(hits)) if hits is not None else float("nan")
    return summary


def evaluate_conditions(cfg: DictConfig, checkpoint: Checkpoint) -> dict[str, float]:
    """Separate ``eval.num_mixtures`` fixed mixtures of every condition of ``eval.conditions`` (see the module doc)."""
    task, train_cfg = restore_task(checkpoint)
    options = cfg.get("eval") or {}
    if cfg.split == "train":
        raise ConfigError("eval.conditions applies to the val and test splits")
    datamodule = hydra.utils.instantiate(OmegaConf.merge(train_cfg.data, cfg.get("data") or {}))
    names = condition_names(options["conditions"], getattr(datamodule, "conditions", {}))
    datamodule.predict_split = cfg.split
    datamodule.prepare_data()
    trainer = hydra.utils.instantiate(cfg.trainer)
    samples_per_frame = checkpoint.input["samples_per_frame"]
    picks = checkpoint.input["modality"] == "av"
    table: dict[str, dict[str, float]] = {}
    for name in names:
        datamodule.set_condition(cfg.split, name)
        if options.get("num_mixtures"):
            datamodule.set_num_mixtures(cfg.split, int(options["num_mixtures"]))
        outputs = trainer.predict(task, datamodule=datamodule)
        records = separation.mixtures_of(outputs, samples_per_frame)
        if not records:
            raise ConfigError(f"no mixture of condition {name} could be made (all clips unreadable?)")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # SDR is fastest on one thread (shared/FINDINGS.md)
        rows = [distortion_metrics(r["estimate"], r["sources"], r["mixture"]) for r in records]
        torch.set_num_threads(threads)
        table[name] = condition_summary(rows, selection_hits(outputs, samples_per_frame) if picks else None)
        log.info("%s, %s: %s", cfg.ckpt, name, table[name])
    output_dir = Path(cfg.paths.output_dir)
    atomic_write_json(output_dir / "conditions.json", {
        "checkpoint": str(cfg.ckpt), "modality": checkpoint.input["modality"], "split": cfg.split, "conditions": table,
        "note": "audio-only models: the output that best matches the target (oracle assignment) is scored",
    })
    atomic_write_text(output_dir / "conditions.md", markdown_table(
        ["condition", *COLUMNS], [[name, *(row[c] for c in COLUMNS)] for name, row in table.items()], digits=3))
    return {f"{cfg.split}/{name}/{key}": value for name, row in table.items() for key, value in row.items()}
