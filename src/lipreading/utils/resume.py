"""Find the checkpoint a run resumes from (``resume=auto`` / ``ckpt_path=...``), skipping damaged ones."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import yaml

from lipreading.utils.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

IGNORED_OVERRIDES = ("resume=", "ckpt_path=", "hydra.")


def _overrides(run_dir: Path) -> list[str] | None:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return None
    return sorted(o for o in yaml.safe_load(path.read_text()) or [] if not o.startswith(IGNORED_OVERRIDES))


def checkpoint_problem(path: Path) -> str | None:
    """Why ``path`` cannot be resumed from (empty, truncated, damaged), or None when it is whole.

    Checkpoints are zip archives (``torch.save``): a file cut short lacks the archive's directory,
    which sits at its end, and a damaged one fails the CRC-32 checksum of a record.
    """
    try:
        size = path.stat().st_size
        if size == 0:
            return "it is empty (0 bytes)"
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        return f"it is truncated or not a checkpoint ({e})"
    if damaged is not None:
        return f"it is damaged ({damaged} fails its checksum)"
    return None


def run_checkpoints(run_dir: Path) -> list[Path]:
    """The checkpoints of a run (``checkpoints/*.ckpt``: the resume checkpoint ``last.ckpt``, the best
    one, and ``last-v1.ckpt`` from runs of older versions), newest first."""
    candidates = [p for p in (run_dir / "checkpoints").glob("*.ckpt") if p.is_file()]
    return sorted(candidates, key=lambda p: p.stat().st_mtime, reverse=True)


def latest_valid_checkpoint(run_dir: Path) -> Path | None:
    """The newest whole checkpoint of ``run_dir``; each damaged newer one is reported and skipped."""
    for path in run_checkpoints(run_dir):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        log.warning("resume=auto: skipping %s: %s", path, problem)
    return None


def find_resume_checkpoint(output_dir: Path, runs_dir: Path | None = None) -> Path | None:
    """The newest whole checkpoint to resume from, or None to start afresh.

    First this run's own directory (a rerun with the same ``hydra.run.dir``, as a cluster
    requeue does); else the most recent earlier run under ``runs_dir`` with the same
    command-line overrides (only when this run's overrides are known: a run dir Hydra made).
    """
    own = latest_valid_checkpoint(output_dir)
    if own is not None:
        return own
    wanted = _overrides(output_dir)
    if runs_dir is None or not runs_dir.is_dir() or wanted is None:
        return None
    candidates = sorted(
        (p for p in runs_dir.iterdir() if p.is_dir() and p.resolve() != output_dir.resolve()),
        key=lambda p: p.stat().st_mtime, reverse=True,
    )
    for run_dir in candidates:
        if _overrides(run_dir) == wanted:
            found = latest_valid_checkpoint(run_dir)
            if found is not None:
                return found
    return None


def resolve_ckpt_path(resume: str | None, ckpt_path: str | None, output_dir: Path, runs_dir: Path | None) -> str | None:
    """The checkpoint path to pass to ``Trainer.fit`` (explicit ``ckpt_path`` wins)."""
    if ckpt_path:
        path = Path(ckpt_path)
        if not path.is_file():
            raise ConfigError(f"ckpt_path={ckpt_path} does not exist; give the path of a .ckpt file or use resume=auto")
        problem = checkpoint_problem(path)
        if problem is not None:
            raise CheckpointError(f"ckpt_path={ckpt_path} cannot be resumed from: {problem}; "
                                  f"resume=auto picks the newest whole checkpoint of the run")
        return str(ckpt_path)
    if resume in (None, False, "never"):
        return None
    if resume != "auto":
        raise ConfigError(f"resume={resume!r} is not valid; use resume=auto (or ckpt_path=PATH)")
    found = find_resume_checkpoint(output_dir, runs_dir)
    log.info("resume=auto: %s", f"resuming from {found}" if found else "no earlier checkpoint, starting afresh")
    return str(found) if found else None
