"""Runs that follow one another in one run directory, by one command: stages, and born-again generations.

``cfg.stages`` maps each stage's name to the config keys it overrides, e.g. (experiment=av_synthetic_words)::

    stages:
      audio: {modality: audio}
      video: {modality: video}
      av: {modality: av, init_from: {audio: "stage:audio", video: "stage:video"}}

``stage:NAME`` (as any value of a stage's config) stands for the best checkpoint of the earlier
stage NAME. A stage's value for a config node with a ``_target_`` of another class (a different
datamodule, model or task) replaces that node rather than merging into it, and a value that is a
single interpolation (``data: ${data.clips}``) takes that part of the run's config as it is there;
dotted keys (``data.modality: video``) are set last, as on the command line. So a stage can train
another task, e.g. the lipreading stage of experiment=av_separation.

``generations=N`` with a distillation task (``task=distillation``, e.g. experiment=distill_born_again_lrw)
plans the stages of born-again self-distillation (Furlanello et al. 2018; Ma et al. 2021): ``gen0``,
the student's task alone, then ``gen1`` .. ``genN``, each distilled from the one before
(``task.teacher.checkpoint: stage:gen<k-1>``); a teacher given on the command line
(``task.teacher.checkpoint=PATH``) stands in for ``gen0``.

Each stage trains in ``<run dir>/<stage>``; a stage with a ``metrics.json`` is done and is skipped
when the command is run again, and an interrupted stage resumes from its newest whole checkpoint. With
``resume=auto`` and a fresh run directory the most recent earlier run with the same overrides is
continued. ``stages.md`` tabulates every stage's figures; ``cfg.snr_evaluation`` (noises, snrs) then
evaluates every stage's checkpoint against the SNR.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from lipreading.run.build import is_distillation, student_task_config
from lipreading.run.noise import accuracy_against_snr, write_snr_report
from lipreading.run.train import train
from lipreading.utils.errors import ConfigError
from lipreading.utils.io import atomic_write_json, atomic_write_text
from lipreading.utils.resume import _overrides, latest_valid_checkpoint

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


def is_staged(cfg: DictConfig) -> bool:
    """True when ``cfg`` trains several runs in order (``stages``, or ``generations``)."""
    return bool(cfg.get("stages") or cfg.get("generations"))


def planned_stages(cfg: DictConfig) -> tuple[DictConfig, dict[str, str]]:
    """The stages to run (name -> overrides) and the checkpoints given for stages that are not trained."""
    generations = cfg.get("generations")
    if not generations:
        if not isinstance(cfg.stages, DictConfig):
            raise ConfigError(f"stages must map stage names to config keys, not {OmegaConf.to_yaml(cfg.stages).strip()!r}")
        return cfg.stages, {}
    if cfg.get("stages"):
        raise ConfigError("give stages or generations, not both")
    if isinstance(generations, bool) or not isinstance(generations, int) or generations < 1:
        raise ConfigError(f"generations={generations!r} must be a positive integer (the number of distilled students)")
    if not is_distillation(cfg.task):
        raise ConfigError(f"generations={generations} distils each generation from the one before: it needs "
                          f"task=distillation (e.g. experiment=distill_born_again_lrw), not {cfg.task._target_}")
    teacher = OmegaConf.select(cfg, "task.teacher.checkpoint", default=None)
    stages: dict[str, Any] = {}
    if not teacher:
        stages["gen0"] = {"task": student_task_config(OmegaConf.to_container(cfg.task, resolve=False))}
    for k in range(1, generations + 1):
        stages[f"gen{k}"] = {"task.teacher.checkpoint": f"{STAGE_REFERENCE}gen{k - 1}"}
    return OmegaConf.create(stages), ({"gen0": str(teacher)} if teacher else {})


def _stage_overrides(cfg: DictConfig, stages: DictConfig, name: str) -> DictConfig:
    """``stages[name]`` with each value that is one interpolation (``${data.clips}``) replaced by
    that node of the run's config, resolved there."""
    overrides = stages[name]
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


def _resolve_stage_references(node: DictConfig | ListConfig, name: str, checkpoints: dict[str, str], where: str = "") -> None:
    """Replace every ``stage:NAME`` value under ``node`` by the checkpoint of the earlier stage NAME."""
    keys = range(len(node)) if isinstance(node, ListConfig) else list(node.keys())
    for key in keys:
        if OmegaConf.is_interpolation(node, key):
            continue
        value = node[key]
        path = f"{where}.{key}" if where else str(key)
        if isinstance(value, (DictConfig, ListConfig)):
            _resolve_stage_references(value, name, checkpoints, path)
        elif isinstance(value, str) and value.startswith(STAGE_REFERENCE):
            earlier = value[len(STAGE_REFERENCE):]
            if earlier not in checkpoints:
                raise ConfigError(f"stage {name}: {path}={value} names no earlier stage ({', '.join(checkpoints) or 'none'})")
            node[key] = checkpoints[earlier]


def stage_config(cfg: DictConfig, name: str, stage_dir: Path, checkpoints: dict[str, str],
                 stages: DictConfig | None = None) -> DictConfig:
    """The config of one stage: the run's, its overrides, its own output dir, references resolved."""
    stages = cfg.stages if stages is None else stages
    base = cfg.copy()
    with open_dict(base):
        base.pop("stages", None)
        base.pop("generations", None)
        base.pop("snr_evaluation", None)
    overrides = _stage_overrides(cfg, stages, name)
    dotted = {key: overrides.pop(key) for key in [k for k in overrides if "." in str(k)]}
    with open_dict(base):
        for key, value in overrides.items():
            previous = base.get(key)
            if isinstance(value, DictConfig) and isinstance(previous, DictConfig) and "_target_" in value and previous.get("_target_") != value.get("_target_"):
                base[key] = value  # another class: its arguments, not a mix with the run's
    stage = OmegaConf.merge(base, overrides)
    for key, value in dotted.items():  # `data.modality: video`, applied last, as on the command line
        OmegaConf.update(stage, key, value, merge=True, force_add=True)
    _resolve_stage_references(stage, name, checkpoints)
    resume_from = latest_valid_checkpoint(stage_dir)  # an interrupted stage: its newest whole checkpoint
    with open_dict(stage):
        stage.paths.output_dir = str(stage_dir)
        stage.resume = None
        stage.ckpt_path = str(resume_from) if resume_from else None
    return stage


def stages_table(rows: list[tuple[str, DictConfig | None, dict[str, Any], str]]) -> str:
    """Markdown: one row per stage with its monitored metric on val and test, training time and checkpoint."""
    lines = ["| stage | val | test | train time | checkpoint |", "|---|---|---|---|---|"]
    for name, stage, metrics, checkpoint in rows:
        monitor = OmegaConf.select(stage, "callbacks.model_checkpoint.monitor", default=None) if stage else None
        metric = (monitor or "val/acc").split("/", 1)[-1]
        figures = [f"{metric} {metrics[k]:.4f}" if isinstance(metrics.get(k), (int, float)) else ""
                   for k in (f"val/{metric}", f"test/{metric}")]
        seconds = metrics.get("train_seconds")
        lines.append(f"| {name} | {figures[0]} | {figures[1]} | {'' if seconds is None else f'{seconds:.0f} s'} | {checkpoint} |")
    return "\n".join(lines) + "\n"


def train_stages(cfg: DictConfig, train_fn: Callable[[DictConfig], dict[str, Any]] = train) -> dict[str, Any]:
    """Train every planned stage in order (skipping finished ones); return each one's metrics."""
    run_dir = continued_run_dir(Path(cfg.paths.output_dir), cfg.get("resume"))
    stages, checkpoints = planned_stages(cfg)
    results: dict[str, dict[str, Any]] = {}
    rows = [(name, None, {"note": "given"}, path) for name, path in checkpoints.items()]
    for name in stages:
        stage_dir = run_dir / name
        stage = stage_config(cfg, name, stage_dir, checkpoints, stages)
        done = stage_dir / "metrics.json"
        if done.is_file():
            log.info("stage %s: done earlier (%s)", name, done)
            results[name] = json.loads(done.read_text())
        else:
            log.info("stage %s: training in %s", name, stage_dir)
            results[name] = train_fn(stage)
        checkpoints[name] = stage_checkpoint(results[name], stage_dir)
        rows.append((name, stage, results[name], checkpoints[name]))
        atomic_write_json(run_dir / "stages.json", {"finished": list(results), "checkpoints": checkpoints})
        atomic_write_text(run_dir / "stages.md", stages_table(rows))
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
