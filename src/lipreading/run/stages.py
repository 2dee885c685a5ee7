"""Staged training in one command: runs that follow one another in one run directory.

``cfg.stages`` maps each stage's name to the config keys it overrides, e.g. (experiment=av_synthetic_words)::

    stages:
      audio: {modality: audio}
      video: {modality: video}
      av: {modality: av, init_from: {audio: "stage:audio", video: "stage:video"}}

``stage:NAME`` stands for the best checkpoint of the earlier stage NAME. A stage's value for a
config node with a ``_target_`` of another class (a different datamodule, model or task) replaces
that node rather than merging into it, and a value that is a single interpolation (``data:
${data.clips}``) takes that part of the run's config as it is there; dotted keys (``data.modality:
video``) are set last, as on the command line. So a stage can train another task, e.g. the
lipreading stage of experiment=separation. Each stage trains in
``<run dir>/<stage>``; a stage with a ``metrics.json`` is done and is skipped when the command is
run again, and an interrupted stage resumes from its ``last.ckpt``. With ``resume=auto`` and a
fresh run directory the most recent earlier run with the same overrides is continued.
``cfg.snr_evaluation`` (noises, snrs) then evaluates every stage's checkpoint against the SNR.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from lipreading.run.noise import accuracy_against_snr, write_snr_report
from lipreading.run.train import train
from lipreading.utils.errors import ConfigError
from lipreading.utils.io import atomic_write_json
from lipreading.utils.resume import _overrides

log = logging.getLogger(__name__)

STAGE_REFERENCE = "stage:"
_REFERENCE = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")


def continued_run_dir(run_dir: Path, resume: str | None) -> Path:
    """``run_dir``, or under ``resume=auto`` the latest earlier staged run with the same overrides."""
    if resume != "auto" or (run_dir / "stages.json").is_file() or not run_dir.parent.is_dir():
        return run_dir
    wanted = _overrides(run_dir)
    earlier = sorted(
        (p for p in run_dir.parent.iterdir() if p.is_dir() and p.resolve() != run_dir.resolve() and (p / "stages.json").is_file()),
        key=lambda p: p.stat().st_mtime, reverse=True,
    )
    for candidate in earlier:
        if _overrides(candidate) == wanted:
            log.info("resume=auto: continuing the staged run in %s", candidate)
            return candidate
    return run_dir


def stage_checkpoint(metrics: dict[str, Any], stage_dir: Path) -> str:
    """The checkpoint a finished stage hands on: its best, else its last."""
    best = metrics.get("best_checkpoint")
    if best and Path(best).is_file():
        return str(best)
    return str(stage_dir / "checkpoints" / "last.ckpt")


def _stage_overrides(cfg: DictConfig, name: str) -> DictConfig:
    """``cfg.stages[name]`` with each value that is one interpolation (``${data.clips}``) replaced by
    that node of the run's config, resolved there."""
    overrides = cfg.stages[name]
    if not isinstance(overrides, DictConfig):
        raise ConfigError(f"stages.{name} must map config keys to values, not {OmegaConf.to_yaml(overrides).strip()!r}")
    raw = OmegaConf.to_container(overrides, resolve=False)
    for key, value in raw.items():
        match = _REFERENCE.fullmatch(value) if isinstance(value, str) else None
        if match:
            node = OmegaConf.select(cfg, match.group(1), throw_on_missing=True)
            if node is None:
                raise ConfigError(f"stages.{name}.{key}={value} names no part of the run's config")
            raw[key] = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node
    return OmegaConf.create(raw)


def stage_config(cfg: DictConfig, name: str, stage_dir: Path, checkpoints: dict[str, str]) -> DictConfig:
    """The config of one stage: the run's, its overrides, its own output dir, references resolved."""
    base = cfg.copy()
    with open_dict(base):
        base.pop("stages")
        base.pop("snr_evaluation", None)
    overrides = _stage_overrides(cfg, name)
    dotted = {key: overrides.pop(key) for key in [k for k in overrides if "." in str(k)]}
    with open_dict(base):
        for key, value in overrides.items():
            previous = base.get(key)
            if isinstance(value, DictConfig) and isinstance(previous, DictConfig) and "_target_" in value and previous.get("_target_") != value.get("_target_"):
                base[key] = value  # another class: its arguments, not a mix with the run's
    stage = OmegaConf.merge(base, overrides)
    for key, value in dotted.items():  # `data.modality: video`, applied last, as on the command line
        OmegaConf.update(stage, key, value, merge=True, force_add=True)
    for stream, source in list((stage.get("init_from") or {}).items()):
        if isinstance(source, str) and source.startswith(STAGE_REFERENCE):
            earlier = source[len(STAGE_REFERENCE):]
            if earlier not in checkpoints:
                raise ConfigError(f"stage {name}: init_from.{stream}={source} names no earlier stage ({', '.join(checkpoints) or 'none'})")
            stage.init_from[stream] = checkpoints[earlier]
    last = stage_dir / "checkpoints" / "last.ckpt"
    with open_dict(stage):
        stage.paths.output_dir = str(stage_dir)
        stage.resume = None
        stage.ckpt_path = str(last) if last.is_file() else None
    return stage


def train_stages(cfg: DictConfig) -> dict[str, Any]:
    """Train every stage of ``cfg.stages`` in order (skipping finished ones); return each one's metrics."""
    run_dir = continued_run_dir(Path(cfg.paths.output_dir), cfg.get("resume"))
    results: dict[str, dict[str, Any]] = {}
    checkpoints: dict[str, str] = {}
    for name in cfg.stages:
        stage_dir = run_dir / name
        done = stage_dir / "metrics.json"
        if done.is_file():
            log.info("stage %s: done earlier (%s)", name, done)
            results[name] = json.loads(done.read_text())
        else:
            log.info("stage %s: training in %s", name, stage_dir)
            results[name] = train(stage_config(cfg, name, stage_dir, checkpoints))
        checkpoints[name] = stage_checkpoint(results[name], stage_dir)
        atomic_write_json(run_dir / "stages.json", {"finished": list(results), "checkpoints": checkpoints})
    summary: dict[str, Any] = {f"{name}/{k}": v for name, metrics in results.items() for k, v in metrics.items()}
    evaluation = cfg.get("snr_evaluation")
    if evaluation:
        snrs = [None if s in (None, "clean") else float(s) for s in evaluation.snrs]
        tables = {noise: accuracy_against_snr(checkpoints, noise, snrs) for noise in evaluation.noises}
        report = write_snr_report(tables, run_dir)
        log.info("accuracy against SNR (%s):\n%s", report, report.read_text())
        summary["snr"] = tables
    summary["objective"] = results[list(results)[-1]].get("objective")
    atomic_write_json(run_dir / "metrics.json", summary)
    return summary
