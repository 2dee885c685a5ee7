"""Gather the runs of a Hydra multirun sweep into one table: mean and std of each metric over seeds.

    python -m lipreading.reports.sweep outputs/train/multiruns/<time> [--ignore seed] [--metrics test/acc ...]

Each run dir of the sweep holds ``metrics.json`` and ``.hydra/overrides.yaml`` (train.py writes
both). Runs whose overrides differ only in the ignored keys (``seed`` by default) form one row,
labelled by the overrides that vary; those shared by every run are listed once above the table.
Writes ``summary.md`` and ``summary.csv`` into the sweep dir and prints the table.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import yaml

from lipreading.reports.tables import csv_table, markdown_table
from lipreading.utils.errors import UserError, friendly_errors
from lipreading.utils.io import atomic_write_text

log = logging.getLogger(__name__)

DEFAULT_METRICS = ("test/acc", "test/acc5", "test/cer", "test/wer", "val/acc", "val/cer", "train_seconds")


@dataclass
class Group:
    """The runs that share every override but the ignored ones."""

    overrides: str
    runs: list[Path] = field(default_factory=list)
    values: dict[str, list[float]] = field(default_factory=dict)


def read_run(run_dir: Path) -> tuple[list[str], dict[str, float]]:
    """The overrides and numeric metrics of one run dir."""
    overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text()) or []
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return [str(o) for o in overrides], {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}


def find_runs(sweep_dir: Path) -> list[Path]:
    """Run dirs under ``sweep_dir`` (any depth) that finished: they hold metrics.json and their overrides."""
    return sorted(p.parent for p in sweep_dir.rglob("metrics.json") if (p.parent / ".hydra" / "overrides.yaml").is_file())


def group_runs(runs: Sequence[Path], ignore: Sequence[str]) -> tuple[list[Group], list[str]]:
    """Group runs by their overrides without the ``ignore`` keys (``seed`` -> one row over seeds).

    Returns the groups, labelled by the overrides that vary, and the overrides shared by every run.
    """
    read = [(run, *read_run(run)) for run in runs]
    shared = [o for o in read[0][1] if all(o in overrides for _, overrides, _ in read)] if read else []
    groups: dict[str, Group] = {}
    for run, overrides, metrics in read:
        varying = [o for o in overrides if o not in shared and o.split("=", 1)[0].lstrip("+~") not in ignore]
        kept = " ".join(varying) or "(all runs)"
        group = groups.setdefault(kept, Group(kept))
        group.runs.append(run)
        for name, value in metrics.items():
            group.values.setdefault(name, []).append(value)
    return list(groups.values()), shared


def summary_rows(groups: Sequence[Group], metrics: Sequence[str]) -> tuple[list[str], list[list[object]]]:
    """Header and rows: the overrides, the number of runs, then mean and std of each metric."""
    present = [m for m in metrics if any(m in g.values for g in groups)]
    header = ["overrides", "runs"] + [f"{m} {stat}" for m in present for stat in ("mean", "std")]
    rows = []
    for group in groups:
        row: list[object] = [group.overrides, len(group.runs)]
        for name in present:
            values = group.values.get(name, [])
            row += [statistics.fmean(values) if values else None,
                    statistics.stdev(values) if len(values) > 1 else (0.0 if values else None)]
        rows.append(row)
    return header, rows


def summarize_sweep(sweep_dir: str | Path, ignore: Sequence[str] = ("seed",),
                    metrics: Sequence[str] = DEFAULT_METRICS) -> str:
    """Write ``summary.md`` and ``summary.csv`` into ``sweep_dir``; return the markdown table."""
    sweep_dir = Path(sweep_dir)
    runs = find_runs(sweep_dir)
    if not runs:
        raise UserError(f"{sweep_dir}: no finished runs (run dirs with metrics.json and .hydra/overrides.yaml)")
    groups, shared = group_runs(runs, ignore)
    header, rows = summary_rows(groups, metrics)
    table = markdown_table(header, rows)
    if shared:
        table = f"Overrides of every run: `{' '.join(shared)}`\n\n{table}"
    atomic_write_text(sweep_dir / "summary.md", table)
    atomic_write_text(sweep_dir / "summary.csv", csv_table(header, rows))
    return table


@friendly_errors
def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", help="a multirun dir, e.g. outputs/train/multiruns/<time>")
    parser.add_argument("--ignore", nargs="*", default=["seed"], help="override keys averaged over (default: seed)")
    parser.add_argument("--metrics", nargs="*", default=list(DEFAULT_METRICS), help="metrics.json keys to summarise")
    args = parser.parse_args(argv)
    print(summarize_sweep(args.sweep_dir, args.ignore, args.metrics), end="")


if __name__ == "__main__":
    main()
