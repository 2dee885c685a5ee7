"""The benchmark scripts run and print their tables (smoke tests on the smallest model; no timing asserted)."""

import sys

import pytest
import torch

from benchmarks import complexity, data_loading, inference, latency_vs_reference, training


def table_rows(output: str) -> list[list[str]]:
    return [line.strip("|").split(" | ") for line in output.splitlines() if line.startswith("| ")][1:]


def run_main(module, monkeypatch, capsys, *args: str) -> list[list[str]]:
    monkeypatch.setattr(sys, "argv", [module.__name__, *args])
    module.main()
    return table_rows(capsys.readouterr().out)


def test_complexity_table_has_onnx_runtime_latency(monkeypatch, capsys):
    (row,) = run_main(complexity, monkeypatch, capsys, "small_tcn", "--repeats", "1", "--size", "44")
    assert row[0].strip() == "small_tcn" and float(row[-1]) > 0  # the ONNX Runtime column


def test_training_and_inference_tables(monkeypatch, capsys):
    (row,) = run_main(training, monkeypatch, capsys, "small_tcn", "--steps", "1", "--batch-size", "2")
    assert row[1] == "29x44x44" and float(row[-1]) > 0
    (row,) = run_main(inference, monkeypatch, capsys, "small_tcn", "--batches", "1", "2", "--repeats", "1")
    assert len(row) == 2 + 2 * len({1, torch.get_num_threads()})  # batches 1 and 2 x thread counts


def test_latency_vs_reference_measures_our_side_and_formats_the_ratios() -> None:
    """Our process of the comparison (the smallest zoo entry, eager and ONNX Runtime); the reference's side needs
    its checkout outside the repository and is run by the benchmark itself."""
    ours = latency_vs_reference.measure_ours("snv05x_tcn1x", repeats=1, onnx=True)
    assert ours["params"] == 2_909_852 and min(ours["eager"], ours["eager_cpu"], ours["onnx"], ours["onnx_cpu"]) > 0
    theirs = {"eager": 2 * ours["eager"], "eager_cpu": 4 * ours["eager_cpu"]}
    cells = latency_vs_reference.row_cells([ours], [theirs])
    assert cells[2] == "0.50" and cells[5] == "0.25" and latency_vs_reference.row_cells([ours], [])[1] == "n/a"


@pytest.mark.slow
def test_data_loading_table(monkeypatch, capsys):
    rows = run_main(data_loading, monkeypatch, capsys, "--words", "2", "--per-word", "16", "--clips", "32")
    assert {r[0].strip() for r in rows} == set(data_loading.CONFIGS) and all(float(r[5]) > 0 for r in rows)
