"""Find the checkpoint a run resumes from (``resume=auto`` / ``ckpt_path=...``)."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from lipreading.utils.errors import ConfigError

log = logging.getLogger(__name__)

IGNORED_OVERRIDES = ("resume=", "ckpt_path=", "hydra.")


def _overrides(run_dir: Path) -> list[str] | None:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return None
    return sorted(o for o in yaml.safe_load(path.read_text()) or [] if not o.startswith(IGNORED_OVERRIDES))


def latest_last_checkpoint(run_dir: Path) -> Path | None:
    """The newest ``checkpoints/last*.ckpt`` of a run (two checkpoint callbacks that both keep a
    "last" file make Lightning name the second ``last-v1.ckpt``)."""
    candidates = list((run_dir / "checkpoints").glob("last*.ckpt"))
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def find_resume_checkpoint(output_dir: Path, runs_dir: Path | None = None) -> Path | None:
    """The newest ``last*.ckpt`` to resume from, or None to start afresh.

    First this run's own directory (a rerun with the same ``hydra.run.dir``, as a cluster
    requeue does); else the most recent earlier run under ``runs_dir`` with the same
    command-line overrides that left a ``checkpoints/last*.ckpt``.
    """
    own = latest_last_checkpoint(output_dir)
    if own is not None:
        return own
    if runs_dir is None or not runs_dir.is_dir():
        return None
    wanted = _overrides(output_dir)
    candidates = sorted(
        (p for p in runs_dir.iterdir() if p.is_dir() and p.resolve() != output_dir.resolve()),
        key=lambda p: p.stat().st_mtime, reverse=True,
    )
    for run_dir in candidates:
        last = latest_last_checkpoint(run_dir)
        if last is not None and _overrides(run_dir) == wanted:
            return last
    return None


def resolve_ckpt_path(resume: str | None, ckpt_path: str | None, output_dir: Path, runs_dir: Path) -> str | None:
    """The checkpoint path to pass to ``Trainer.fit`` (explicit ``ckpt_path`` wins)."""
    if ckpt_path:
        if not Path(ckpt_path).is_file():
            raise ConfigError(f"ckpt_path={ckpt_path} does not exist; give the path of a .ckpt file or use resume=auto")
        return str(ckpt_path)
    if resume in (None, False, "never"):
        return None
    if resume != "auto":
        raise ConfigError(f"resume={resume!r} is not valid; use resume=auto (or ckpt_path=PATH)")
    found = find_resume_checkpoint(output_dir, runs_dir)
    log.info("resume=auto: %s", f"resuming from {found}" if found else "no earlier checkpoint, starting afresh")
    return str(found) if found else None
