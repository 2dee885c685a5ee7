"""train.py and eval.py end to end, as a user runs them (subprocesses)."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lipreading.run.checkpoint import read_checkpoint

REPO = Path(__file__).resolve().parents[1]
TINY = ["data.num_classes=3", "data.clips_per_word={train:6,val:3,test:3}", "data.batch_size=4"]


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}


def run(script: str, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / script), *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=300)


def run_all(*commands: tuple[str, ...]) -> list[subprocess.CompletedProcess]:
    """``run(*command)`` for each command, all at once (most of a short command is its imports)."""
    started = [(command, subprocess.Popen([sys.executable, str(REPO / command[0]), *command[1:]], cwd=REPO, env=ENV,
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
               for command in commands]
    done = []
    for command, process in started:
        stdout, stderr = process.communicate(timeout=300)
        done.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    return done


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    result = run("train.py", *TINY, "trainer.max_epochs=1", f"paths.data_dir={out / 'data'}",
                 f"hydra.run.dir={out / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_train_writes_checkpoints_metrics_and_logs(trained_run):
    run_dir = trained_run / "run"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["test/acc"] <= 1.0 and Path(metrics["best_checkpoint"]).is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "csv" / "version_0" / "metrics.csv").is_file()
    assert (run_dir / ".hydra" / "config.yaml").is_file()


def test_run_info_records_config_versions_and_commit(trained_run):
    import torch

    run_dir = trained_run / "run"
    info = json.loads((run_dir / "run_info.json").read_text())
    assert info["config"]["data"]["num_classes"] == 3
    assert info["environment"]["packages"]["torch"] == torch.__version__.split("+")[0] or \
        info["environment"]["packages"]["torch"].startswith(torch.__version__.split("+")[0])
    checkpoint = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert checkpoint.contents["environment"]["git_commit"] == info["environment"]["git_commit"]
    assert checkpoint.config == info["config"]
    assert checkpoint.record["origin"] == {"by": "train.py", "source": None, "sha256": None,
                                           "git_commit": info["environment"]["git_commit"]}


def test_eval_rebuilds_the_model_from_the_checkpoint(trained_run, tmp_path):
    ckpt = trained_run / "run" / "checkpoints" / "last.ckpt"
    data = next((trained_run / "data" / "synthetic_words").iterdir())
    copy = tmp_path / "copy"
    shutil.copytree(data, copy)
    # No training overrides repeated; data.root as eval.py's docstring writes it (no +), log-probs kept.
    result = run("eval.py", f"ckpt={ckpt}", f"data.root={copy}", "save_log_probs=true", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open()))
    assert metrics["test/num_samples"] == len(rows) == 9
    assert metrics["test/acc"] == pytest.approx(sum(int(r["correct"]) for r in rows) / len(rows))
    assert len({r["label"] for r in rows}) == 3 and all(r["path"].startswith(str(copy)) for r in rows)
    log_probs = np.load(tmp_path / "log_probs.npy")
    assert log_probs.shape == (9, 3) and log_probs.dtype == np.float32
    np.testing.assert_allclose(np.exp(log_probs).sum(1), 1.0, atol=1e-5)
    vocabulary = read_checkpoint(ckpt).vocabulary  # class index -> word, as the record stores it
    assert [vocabulary[i] for i in log_probs.argmax(1)] == [r["prediction"] for r in rows]
    np.testing.assert_allclose(np.exp(log_probs.max(1)), [float(r["probability"]) for r in rows], atol=1e-4)


def test_debug_trainer_runs_one_batch(tmp_path):
    result = run("train.py", *TINY, "debug=default", f"paths.data_dir={tmp_path / 'data'}",
                 f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "fast_dev_run" in result.stderr + result.stdout


def test_clear_errors(tmp_path):
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"\x80\x04 not a checkpoint")
    missing, bad, no_data, unknown = run_all(
        ("eval.py", f"ckpt={tmp_path / 'nope.ckpt'}", f"hydra.run.dir={tmp_path / 'e1'}"),
        ("eval.py", f"ckpt={corrupt}", f"hydra.run.dir={tmp_path / 'e2'}"),
        ("train.py", "data=lrw", f"paths.data_dir={tmp_path / 'nodata'}", f"hydra.run.dir={tmp_path / 'e3'}"),
        ("train.py", "model=no_such_model", f"hydra.run.dir={tmp_path / 'e4'}"),
    )
    assert missing.returncode == 1 and "error: checkpoint" in missing.stderr and "nope.ckpt" in missing.stderr
    assert bad.returncode == 1 and "unreadable" in bad.stderr and "corrupt.ckpt" in bad.stderr
    assert no_data.returncode == 1 and "does not exist" in no_data.stderr and "preprocess.py" in no_data.stderr
    assert unknown.returncode == 1 and "Available options" in unknown.stderr and "small_tcn" in unknown.stderr


def test_eval_writes_word_reports_and_compares_checkpoints(trained_run, tmp_path):
    checkpoints = trained_run / "run" / "checkpoints"
    result = run("eval.py", f"ckpt={checkpoints}/*.ckpt", "tta=flip", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    names = [p.stem for p in sorted(checkpoints.glob("*.ckpt"))]  # glob order
    table = (tmp_path / "comparison.md").read_text().splitlines()
    assert len(names) >= 2 and [row.split(" | ")[0].lstrip("| ") for row in table[2:]] == names
    assert "test/acc" in table[0] and "test/macro_acc" in table[0] and table[0] in result.stdout
    report = tmp_path / names[0]
    metrics = json.loads((report / "metrics.json").read_text())
    assert metrics["tta"] == "flip" and len(metrics["per_class_accuracy"]) == 3
    for name in ("predictions.csv", "per_class_accuracy.csv", "confusion_matrix.csv", "confusion_matrix.png",
                 "confused_pairs.md"):
        assert (report / name).is_file(), name
    # Plots of the training run (callbacks=default), written without W&B.
    assert {p.name for p in (trained_run / "run" / "plots").glob("*.png")} >= {
        "learning_curves.png", "val_confusion.png", "val_samples.png", "test_confusion.png"}


def test_export_cli_writes_a_checked_onnx_model(trained_run, tmp_path):
    ckpt = trained_run / "run" / "checkpoints" / "last.ckpt"
    result, bad = run_all(("export.py", f"ckpt={ckpt}", "format=onnx", f"hydra.run.dir={tmp_path}"),
                          ("eval.py", f"ckpt={ckpt}", "tta=rotate", f"hydra.run.dir={tmp_path / 'bad'}"))
    assert result.returncode == 0, result.stderr[-3000:]
    described = json.loads((tmp_path / "model.onnx.json").read_text())
    assert (tmp_path / "model.onnx").is_file() and described["max_abs_difference"] < 1e-4
    assert "max |difference| to PyTorch at 40 frames" in result.stdout
    assert bad.returncode == 1 and "unknown tta='rotate'; valid values: flip" in bad.stderr
