"""Born-again generations in one command, resumable: each generation's best checkpoint teaches the next.

    python -m lipreading.distill_generations generations=3 dir=outputs/generations [train overrides ...]

Generation 0 is an ordinary training run (or ``teacher=PATH``, an existing checkpoint, stands in
for it); generation ``k >= 1`` runs ``distill=born_again`` with generation ``k-1``'s best checkpoint
as its teacher. Every other ``key=value`` is a ``train.py`` override applied to each generation;
``distill.*`` overrides (alpha, temperature, cache_teacher_logits) apply to the students only.
Rerunning the same command skips the generations whose ``metrics.json`` exists and continues an
interrupted one from its ``checkpoints/last.ckpt``. ``dir/generations.md`` and
``generations.json`` tabulate each generation's accuracy.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable

from hydra import compose, initialize_config_dir

from lipreading.run.train import train
from lipreading.utils.errors import ConfigError, friendly_errors
from lipreading.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)
USAGE = "usage: python -m lipreading.distill_generations generations=N dir=OUT [teacher=PATH] [train overrides ...]"


def conf_dir() -> Path:
    """The repository's conf/ (LIPREADING_ROOT, else the checkout holding this package, else cwd)."""
    for root in (os.environ.get("LIPREADING_ROOT"), Path(__file__).resolve().parents[2], Path.cwd()):
        if root and (Path(root) / "conf" / "train.yaml").is_file():
            os.environ.setdefault("LIPREADING_ROOT", str(root))
            return Path(root) / "conf"
    raise ConfigError("conf/train.yaml not found; run from the repository root or set LIPREADING_ROOT")


def generation_overrides(generation: int, gen_dir: Path, teacher: str | None, overrides: list[str]) -> list[str]:
    """The train.py overrides of one generation."""
    common = [o for o in overrides if not o.lstrip("+~").startswith("distill")]
    run = [f"paths.output_dir={gen_dir}", "hydra.job.chdir=false"]
    last = gen_dir / "checkpoints" / "last.ckpt"
    if last.is_file():
        run.append(f"ckpt_path={last}")
    if generation == 0:
        return common + run
    return common + [o for o in overrides if o not in common] + run + [
        "distill=born_again", f"distill.teacher.checkpoint={teacher}"]


def run_generations(generations: int, out_dir: Path, overrides: list[str], teacher: str | None = None,
                    train_fn: Callable[[Any], dict[str, Any]] = train) -> list[dict[str, Any]]:
    """Train the missing generations ``0..generations``; return (and write) the table rows."""
    rows: list[dict[str, Any]] = []
    if teacher is not None:
        rows.append({"generation": 0, "teacher": None, "checkpoint": str(teacher), "note": "given"})
    with initialize_config_dir(str(conf_dir()), version_base="1.3"):
        for generation in range(1 if teacher is not None else 0, generations + 1):
            gen_dir = out_dir / f"gen{generation}"
            metrics_file = gen_dir / "metrics.json"
            if metrics_file.is_file():
                log.info("generation %d: done before (%s), skipped", generation, metrics_file)
                metrics = json.loads(metrics_file.read_text())
            else:
                cfg = compose("train", overrides=generation_overrides(generation, gen_dir, teacher, overrides))
                log.info("generation %d: training in %s (teacher: %s)", generation, gen_dir,
                         teacher if generation else "none")
                metrics = train_fn(cfg)
            checkpoint = metrics.get("best_checkpoint") or str(gen_dir / "checkpoints" / "last.ckpt")
            rows.append({"generation": generation, "teacher": teacher if generation else None,
                         "val/acc": metrics.get("val/acc"), "test/acc": metrics.get("test/acc"),
                         "test/acc5": metrics.get("test/acc5"), "train_seconds": metrics.get("train_seconds"),
                         "checkpoint": checkpoint})
            write_table(out_dir, rows)
            teacher = checkpoint
    return rows


def write_table(out_dir: Path, rows: list[dict[str, Any]]) -> None:
    """``generations.json`` and ``generations.md`` in ``out_dir``."""
    atomic_write_json(out_dir / "generations.json", rows)

    def percent(value: float | None) -> str:
        return "" if value is None else f"{100 * value:.1f}%"

    lines = ["| generation | val acc | test acc | test top-5 | train time | checkpoint |", "|---|---|---|---|---|---|"]
    for row in rows:
        seconds = row.get("train_seconds")
        lines.append(f"| {row['generation']} | {percent(row.get('val/acc'))} | {percent(row.get('test/acc'))} | "
                     f"{percent(row.get('test/acc5'))} | {'' if seconds is None else f'{seconds:.0f} s'} | "
                     f"{row['checkpoint']} |")
    atomic_write_text(out_dir / "generations.md", "\n".join(lines) + "\n")


def parse_args(argv: list[str]) -> tuple[int, Path, str | None, list[str]]:
    """``generations``, ``dir`` and ``teacher`` from ``key=value`` arguments; the rest are train overrides."""
    own: dict[str, str] = {}
    overrides = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        if not sep:
            raise ConfigError(f"argument {arg!r} is not key=value; {USAGE}")
        if key in ("generations", "dir", "teacher"):
            own[key] = value
        else:
            overrides.append(arg)
    if "generations" not in own or not own["generations"].isdigit() or int(own["generations"]) < 1:
        raise ConfigError(f"generations must be a positive integer (the number of students); {USAGE}")
    if "dir" not in own:
        raise ConfigError(f"dir=OUT is required: a rerun with the same dir resumes; {USAGE}")
    return int(own["generations"]), Path(own["dir"]).resolve(), own.get("teacher"), overrides


@friendly_errors
def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s][%(name)s][%(levelname)s] - %(message)s")
    generations, out_dir, teacher, overrides = parse_args(sys.argv[1:] if argv is None else argv)
    run_generations(generations, out_dir, overrides, teacher)
    print((out_dir / "generations.md").read_text(), end="")


if __name__ == "__main__":
    main()
