"""Confusion matrix, per-class accuracy, most-confused pairs and the files of a word report."""

import csv
import math

import torch

from lipreading.reports.words import confused_pairs, confusion_matrix, per_class_accuracy, write_word_report

WORDS = ["ABOUT", "BILLION", "MILLION", "SPEND"]


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    labels = torch.tensor([0, 1, 1, 2, 2, 2])
    predictions = torch.tensor([0, 2, 1, 1, 2, 2])
    confusion = confusion_matrix(predictions, labels, 4)
    expected = torch.zeros(4, 4, dtype=torch.long)
    for t, p in zip(labels.tolist(), predictions.tolist()):
        expected[t, p] += 1
    assert torch.equal(confusion, expected)
    accuracy = per_class_accuracy(confusion)
    assert accuracy[:3].tolist() == [1.0, 0.5, 2 / 3] and math.isnan(accuracy[3])  # SPEND has no clip


def test_confused_pairs_are_ordered_by_count_with_the_reverse_confusion():
    labels = torch.tensor([1, 1, 1, 2, 2, 0, 3])
    predictions = torch.tensor([2, 2, 1, 1, 2, 3, 3])
    pairs = confused_pairs(confusion_matrix(predictions, labels, 4), WORDS)
    assert [(p["true"], p["predicted"], p["count"]) for p in pairs] == [
        ("BILLION", "MILLION", 2), ("ABOUT", "SPEND", 1), ("MILLION", "BILLION", 1)]
    assert pairs[0]["rate"] == 2 / 3 and pairs[0]["reverse"] == 1


def test_word_report_writes_its_files(tmp_path):
    labels = torch.tensor([0, 1, 2, 3, 1, 2])
    log_probs = torch.nn.functional.one_hot(torch.tensor([0, 2, 2, 3, 1, 1]), 4).float().add(0.01).log()
    extra = write_word_report(tmp_path, log_probs, labels, WORDS, "test")
    assert extra["test/macro_acc"] == (1 + 0.5 + 0.5 + 1) / 4
    assert extra["per_class_accuracy"] == {"ABOUT": 1.0, "BILLION": 0.5, "MILLION": 0.5, "SPEND": 1.0}
    rows = list(csv.reader((tmp_path / "confusion_matrix.csv").open()))
    assert rows[0] == ["true \\ predicted", *WORDS] and rows[2] == ["BILLION", "0", "1", "1", "0"]
    assert (tmp_path / "confusion_matrix.png").stat().st_size > 1000
    assert "| BILLION | MILLION | 1 |" in (tmp_path / "confused_pairs.md").read_text()
    per_class = list(csv.DictReader((tmp_path / "per_class_accuracy.csv").open()))
    assert [r["word"] for r in per_class][:2] == ["BILLION", "MILLION"]  # worst first
