"""Evaluate several checkpoints in one call and compare them side by side.

``python eval.py ckpt=[a.ckpt,b.ckpt]`` or ``ckpt='outputs/train/multiruns/*/*/checkpoints/last.ckpt'``
evaluates each into ``<run dir>/<name>/`` (the single-checkpoint report) and writes
``comparison.md`` / ``comparison.csv`` with one row per checkpoint.
"""

from __future__ import annotations

import copy
import glob
import logging
import os
from pathlib import Path
from typing import Any, Callable, Sequence

from omegaconf import DictConfig, ListConfig, open_dict

from lipreading.reports.tables import csv_table, markdown_table
from lipreading.utils.errors import CheckpointError
from lipreading.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

GLOB_CHARACTERS = set("*?[")


def expand_checkpoints(ckpt: str | Sequence[str]) -> list[str]:
    """The checkpoint paths named by ``ckpt``: one path, a list, or glob patterns (``**`` recurses)."""
    patterns = [str(p) for p in ckpt] if isinstance(ckpt, (list, tuple, ListConfig)) else [str(ckpt)]
    paths: list[str] = []
    for pattern in patterns:
        if not GLOB_CHARACTERS & set(pattern):
            paths.append(pattern)
            continue
        matches = sorted(glob.glob(pattern, recursive=True))
        if not matches:
            raise CheckpointError(f"no checkpoint matches ckpt={pattern!r}; check the pattern (quote it for the shell)")
        paths.extend(matches)
    return list(dict.fromkeys(paths))  # a file named twice is evaluated once


def checkpoint_names(paths: Sequence[str]) -> list[str]:
    """Short unique names: each path relative to the folder all share, ``/`` -> ``_``, no ``.ckpt``."""
    absolute = [os.path.abspath(p) for p in paths]
    common = os.path.commonpath([os.path.dirname(p) for p in absolute]) if len(absolute) > 1 else ""
    names = []
    for path in absolute:
        relative = os.path.relpath(path, common) if common else os.path.basename(path)
        names.append(relative.removesuffix(".ckpt").replace(os.sep, "_"))
    return names


def comparison_rows(results: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows: one row per checkpoint, one column per numeric metric (in order of appearance)."""
    columns: list[str] = []
    for metrics in results.values():
        columns += [k for k, v in metrics.items() if isinstance(v, (int, float)) and k not in columns]
    rows = [[name, *(metrics.get(c) for c in columns)] for name, metrics in results.items()]
    return ["checkpoint", *columns], rows


def evaluate_checkpoints(cfg: DictConfig, evaluate: Callable[[DictConfig], dict[str, float]]) -> dict[str, Any]:
    """Run ``evaluate`` on every checkpoint of ``cfg.ckpt``; with several, write the comparison table."""
    paths = expand_checkpoints(cfg.ckpt)
    if len(paths) == 1:
        single = copy.deepcopy(cfg)
        with open_dict(single):
            single.ckpt = paths[0]
        return evaluate(single)
    output_dir = Path(cfg.paths.output_dir)
    results: dict[str, dict[str, Any]] = {}
    for name, path in zip(checkpoint_names(paths), paths):
        one = copy.deepcopy(cfg)
        with open_dict(one):
            one.ckpt = path
            one.paths.output_dir = str(output_dir / name)
        results[name] = evaluate(one)
    header, rows = comparison_rows(results)
    table = markdown_table(header, rows)
    atomic_write_text(output_dir / "comparison.md", table)
    atomic_write_text(output_dir / "comparison.csv", csv_table(header, rows))
    atomic_write_json(output_dir / "metrics.json",
                      {"checkpoints": {name: {"path": p, **results[name]} for name, p in zip(results, paths)}})
    log.info("%d checkpoints compared: %s", len(paths), output_dir / "comparison.md")
    print(table, end="")
    return results
