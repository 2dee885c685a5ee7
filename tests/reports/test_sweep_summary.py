"""A sweep's run dirs gathered into one table: mean and std over seeds."""

import json
import statistics

import pytest
import yaml

from lipreading.reports.sweep import main, summarize_sweep
from lipreading.utils.errors import UserError


def write_run(run_dir, overrides, metrics):
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (run_dir / "metrics.json").write_text(json.dumps(metrics))


def test_runs_differing_only_in_seed_form_one_row(tmp_path, capsys):
    accuracies = {"tcn": [0.8, 0.9, 0.85], "mstcn": [0.7, 0.75, 0.8]}
    job = 0
    for backend, values in accuracies.items():
        for seed, acc in enumerate(values, 1):
            write_run(tmp_path / str(job), ["data=lrw", f"model/backend={backend}", f"seed={seed}"],
                      {"test/acc": acc, "val/acc": acc - 0.1, "best_checkpoint": "x.ckpt"})
            job += 1
    (tmp_path / "99" / ".hydra").mkdir(parents=True)  # a run that crashed: no metrics.json, left out
    table = summarize_sweep(tmp_path)
    lines = table.splitlines()
    assert lines[0] == "Overrides of every run: `data=lrw`"
    rows = [line.split(" | ") for line in lines[4:]]
    assert lines[2].startswith("| overrides | runs | test/acc mean | test/acc std | val/acc mean")
    assert [r[0] for r in rows] == ["| model/backend=tcn", "| model/backend=mstcn"]
    assert rows[0][1] == "3"
    assert float(rows[0][2]) == pytest.approx(statistics.fmean(accuracies["tcn"]), abs=1e-4)
    assert float(rows[0][3]) == pytest.approx(statistics.stdev(accuracies["tcn"]), abs=1e-4)
    assert (tmp_path / "summary.md").read_text() == table
    assert (tmp_path / "summary.csv").read_text().count("\n") == 3
    main([str(tmp_path)])
    assert "model/backend=mstcn" in capsys.readouterr().out


def test_an_empty_sweep_dir_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no finished runs"):
        summarize_sweep(tmp_path)
