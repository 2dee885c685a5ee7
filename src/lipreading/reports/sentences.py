"""Sentence reports: the utterances with the highest character error rate."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from lipreading.reports.tables import markdown_table
from lipreading.utils.io import atomic_write_text


def worst_utterances(predictions_csv: str, top: int = 20) -> list[dict[str, str]]:
    """The ``top`` rows of a per-utterance predictions CSV (with a ``cer`` column) by descending CER.

    Ties keep the file's order, so the list is deterministic.
    """
    rows = list(csv.DictReader(io.StringIO(predictions_csv)))
    return sorted(rows, key=lambda row: -float(row["cer"]))[:top]


def write_worst_utterances(output_dir: Path, predictions_csv: str, top: int = 20) -> None:
    """``worst_utterances.md``: the ``top`` utterances by CER with reference and hypothesis."""
    rows = worst_utterances(predictions_csv, top)
    table = [[row.get("id", ""), float(row["cer"]), row["reference"], row["hypothesis"]] for row in rows]
    atomic_write_text(output_dir / "worst_utterances.md",
                      markdown_table(["id", "cer", "reference", "hypothesis"], table))
