"""The finished items of a batch job, recorded as they finish, so that a killed job continues where it stopped."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lipreading.utils.io import atomic_write_text

log = logging.getLogger(__name__)


class Journal:
    """``path`` holds one JSON line per finished item (``{"index": i, ...}``) after a header line with
    the job's ``identity`` (what makes two runs the same job: the checkpoint, the split, the settings).

    Lines are appended and synced as each batch of items is done; a line cut short by a kill is
    dropped when the journal is read (that item is done again). The journal of another job (another
    identity) is set aside as ``<path>.old`` and a new one is begun.
    """

    def __init__(self, path: str | os.PathLike, identity: dict[str, Any]) -> None:
        self.path = Path(path)
        self.header = json.dumps({"identity": identity}, sort_keys=True)
        self.done: dict[int, dict[str, Any]] = self._read()

    def _read(self) -> dict[int, dict[str, Any]]:
        if not self.path.is_file():
            return {}
        lines = self.path.read_text(encoding="utf-8").split("\n")
        if lines[0] != self.header:
            os.replace(self.path, self.path.with_name(self.path.name + ".old"))
            log.info("%s belongs to another evaluation (checkpoint, split or settings): kept as %s.old, starting afresh",
                     self.path, self.path.name)
            return {}
        done, whole = {}, [lines[0]]
        for line in lines[1:]:
            try:
                row = json.loads(line)
            except ValueError:
                continue  # the last line, cut short by a kill (or the empty string after the final newline)
            done[int(row["index"])] = row
            whole.append(line)
        if len(whole) != len([line for line in lines if line]):
            atomic_write_text(self.path, "\n".join(whole) + "\n")  # drop the torn line before appending
        return done

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Record ``rows`` (each with its ``index``) as done, durably."""
        rows = list(rows)
        with open(self.path, "a", encoding="utf-8") as f:
            if f.tell() == 0:
                f.write(self.header + "\n")
            for row in rows:
                f.write(json.dumps(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.done.update({int(row["index"]): row for row in rows})
