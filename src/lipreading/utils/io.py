"""Atomic file writing: a crash mid-write never leaves a truncated file behind, a full disk never a damaged one."""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch

from lipreading.utils.errors import UserError

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(UserError):
    """No space (or quota) left for a file: the file it replaces was left as it was."""


TEMPORARY = re.compile(r"^\..+\.(\d+)-[0-9a-f]{8}\.tmp$")


def temporary_name(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place: hidden, beside it, unique to this write
    (``.NAME.PID-TOKEN.tmp``: never matched by a ``*.npz`` or ``*.ckpt`` pattern)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def _running(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate it: keep every file
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(directory: str | os.PathLike) -> int:
    """Delete the temporary files under ``directory`` that killed writers left (their process is gone);
    return how many. Writers still running keep theirs (NOTE: judged by PID on this host)."""
    removed = 0
    for path in Path(directory).rglob(".*.tmp"):
        match = TEMPORARY.match(path.name)
        if match and not _running(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable (where the platform allows opening a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _disk_full(error: BaseException) -> OSError | None:
    """The out-of-space error in ``error``'s chain (``torch.save`` reports a failed write as a RuntimeError
    whose context is the OSError), or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            return error
        error = error.__cause__ or error.__context__
    return None


@contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """A file to write ``path`` through: a hidden temporary file beside it, synced and renamed over
    ``path`` when the block ends, removed if it fails. A kill at any moment leaves either the old
    file or the new one; a full disk raises :class:`DiskFullError` and leaves the old file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(path)
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        full = _disk_full(e)
        if full is None:
            raise
        kept = f"{path} was left as it was" if path.exists() else f"{path} was not written"
        raise DiskFullError(
            f"no space left on the device of {path.parent} while writing {path.name} ({full.strerror}): {kept}; "
            f"free some space (or write elsewhere), then run the same command again"
        ) from e
    _sync_directory(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_file(path, "w") as f:
        f.write(text)


def atomic_write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save(obj, path)``, atomically."""
    with atomic_file(path, "wb") as f:
        torch.save(obj, f)
