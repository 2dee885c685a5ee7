"""Word-classification reports: confusion matrix, per-class accuracy, most-confused pairs."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Sequence

import torch

from lipreading.reports.tables import csv_table, markdown_table
from lipreading.utils.io import atomic_write_text

log = logging.getLogger(__name__)


def confusion_matrix(predictions: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(C, C)`` counts: row = true class, column = predicted class."""
    index = labels.long() * num_classes + predictions.long()
    return torch.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def per_class_accuracy(confusion: torch.Tensor) -> torch.Tensor:
    """Recall of each true class (NaN for a class with no samples)."""
    totals = confusion.sum(1).double()
    return confusion.diagonal().double() / totals.where(totals > 0, torch.tensor(float("nan"), dtype=torch.float64))


def confused_pairs(confusion: torch.Tensor, vocabulary: Sequence[str], top: int = 20) -> list[dict[str, Any]]:
    """The ``top`` most frequent (true, predicted) errors, largest count first.

    ``rate`` is the share of the true word's clips given to the predicted word; ``reverse`` counts
    the opposite confusion, so symmetric pairs (homophenes such as BILLION/MILLION) stand out.
    """
    errors = confusion.clone()
    errors.fill_diagonal_(0)
    counts, flat = errors.flatten().sort(descending=True, stable=True)
    totals = confusion.sum(1)
    num_classes = confusion.shape[0]
    pairs = []
    for count, index in zip(counts.tolist(), flat.tolist()):
        if count == 0 or len(pairs) == top:
            break
        true, predicted = divmod(index, num_classes)
        pairs.append({
            "true": vocabulary[true], "predicted": vocabulary[predicted], "count": count,
            "rate": count / int(totals[true]), "reverse": int(confusion[predicted, true]),
        })
    return pairs


def write_word_report(
    output_dir: Path, log_probs: torch.Tensor, labels: torch.Tensor, vocabulary: Sequence[str], split: str
) -> dict[str, Any]:
    """Write the confusion matrix (CSV and PNG), per-class accuracy and confused pairs to ``output_dir``.

    Returns the figures to add to metrics.json: macro accuracy and the accuracy of each word.
    """
    from lipreading.reports.plots import plot_confusion_matrix

    num_classes = log_probs.shape[1]
    confusion = confusion_matrix(log_probs.argmax(1), labels, num_classes)
    accuracy = per_class_accuracy(confusion)
    totals = confusion.sum(1)
    rows = sorted(
        ([vocabulary[c], float(accuracy[c]), int(totals[c])] for c in range(num_classes) if totals[c] > 0),
        key=lambda row: (row[1], row[0]),
    )
    atomic_write_text(output_dir / "per_class_accuracy.csv", csv_table(["word", "accuracy", "samples"], rows))
    atomic_write_text(output_dir / "confusion_matrix.csv",
                      csv_table(["true \\ predicted", *vocabulary],
                                [[vocabulary[c], *confusion[c].tolist()] for c in range(num_classes)]))
    pairs = confused_pairs(confusion, vocabulary)
    header = ["true", "predicted", "count", "rate", "reverse"]
    table = [[p[k] for k in header] for p in pairs]
    atomic_write_text(output_dir / "confused_pairs.csv", csv_table(header, table))
    atomic_write_text(output_dir / "confused_pairs.md", markdown_table(header, table, digits=3))
    plot_confusion_matrix(confusion, vocabulary, output_dir / "confusion_matrix.png", title=f"{split} confusion")
    valid = accuracy[~accuracy.isnan()]
    return {
        f"{split}/macro_acc": float(valid.mean()) if len(valid) else float("nan"),
        "per_class_accuracy": {vocabulary[c]: float(accuracy[c]) for c in range(num_classes) if totals[c] > 0},
    }
