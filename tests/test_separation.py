"""Separation end to end as a user runs it: train.py, eval.py (batch evaluation), infer.py."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from lipreading.data.clip import load_clip
from lipreading.data.synthetic.espeak import espeak_available
from lipreading.utils.errors import ConfigError
from lipreading.utils.validation import validate_training_config
from tests.helpers.av_video import write_mp4
from tests.test_entrypoints import run, run_all

pytestmark = pytest.mark.skipif(not espeak_available(), reason="needs the optional speech extra (pip install '.[speech]')")

TINY = ["experiment=separation", "data.clips.num_classes=2", "data.clips.clips_per_word={train:8,val:2,test:3}",
        "data.batch_size=4", "data.eval_batch_size=4", "data.num_val_mixtures=4", "data.num_test_mixtures=4",
        "model.unet.channels=[4,8,8,8,8]", "model.unet.bottleneck_dim=16", "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2", "callbacks.dashboard=null"]


@pytest.fixture(scope="module", params=["av", "audio"])
def trained(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"separation_{request.param}")
    result = run("train.py", *TINY, f"modality={request.param}", f"paths.data_dir={out / 'data'}",
                 f"hydra.run.dir={out / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    return out, request.param


def test_training_reports_si_sdr_improvement(trained):
    """test/si_sdri is the improvement over the mixture: test/si_sdr minus the test mixtures' own SI-SDR,
    computed here from the run's test mixtures (rebuilt from the checkpoint's config)."""
    import hydra
    import torch

    from lipreading.run.checkpoint import read_checkpoint
    from lipreading.tasks.separation_losses import si_sdr

    out, _ = trained
    metrics = json.loads((out / "run" / "metrics.json").read_text())
    assert np.isfinite(metrics["test/si_sdri"]) and np.isfinite(metrics["test/si_sdr"])
    assert metrics["objective"] == metrics["test/si_sdri"]
    datamodule = hydra.utils.instantiate(read_checkpoint(metrics["best_checkpoint"]).training_config().data)
    datamodule.prepare_data()
    datamodule.setup("test")
    batches = [b for b in datamodule.test_dataloader() if "mixture" in b]
    mixture_si_sdr = torch.cat([si_sdr(b["mixture"], b["sources"][:, 0]) for b in batches])
    assert len(mixture_si_sdr) == 4  # data.num_test_mixtures
    assert metrics["test/si_sdr"] - metrics["test/si_sdri"] == pytest.approx(float(mixture_si_sdr.mean()), abs=1e-3)


def test_batch_evaluation_writes_rows_averages_and_examples(trained, tmp_path: Path):
    out, modality = trained
    ckpt = out / "run" / "checkpoints" / "last.ckpt"
    result = run("eval.py", "task=separation", f"ckpt={ckpt}", "eval.num_mixtures=6", "eval.num_examples=2",
                 "eval.workers=2", f"paths.data_dir={out / 'data'}", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["modality"] == modality and metrics["test/num_mixtures"] == 6
    for name in ("si_sdr", "si_sdri", "sdr", "sir", "sar", "stoi"):
        assert np.isfinite(metrics[f"test/{name}"])
    with open(tmp_path / "mixtures.csv") as f:
        header = next(csv.reader(f))
        assert len(header) == len(set(header)), f"repeated columns in {header}"
        f.seek(0)
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and all(-5 <= float(r["level_db"]) <= 5 for r in rows)
    assert np.mean([float(r["si_sdri"]) for r in rows]) == pytest.approx(metrics["test/si_sdri"], abs=1e-3)
    for row in rows:  # the improvement is over the mixture's own SI-SDR
        assert float(row["si_sdri"]) == pytest.approx(float(row["si_sdr"]) - float(row["input_si_sdr"]), abs=2e-3)
    assert metrics["test/si_sdri"] == pytest.approx(metrics["test/si_sdr"] - metrics["test/input_si_sdr"], abs=1e-6)
    for example in ("000", "001"):
        files = {p.name for p in (tmp_path / "examples" / example).iterdir()}
        assert {"mixture.wav", "estimate.wav", "target.wav", "interferer1.wav", "spectrograms.png"} <= files


@pytest.mark.slow  # ~20 s: two more evaluations
def test_batch_evaluation_is_the_same_every_time_and_refuses_another_task(trained, tmp_path: Path):
    out, modality = trained
    if modality == "audio":
        pytest.skip("the audio-visual model's run shows it")
    ckpt = out / "run" / "checkpoints" / "last.ckpt"
    first, again, wrong = run_all(
        ("eval.py", f"ckpt={ckpt}", "eval.num_mixtures=6", "eval.num_examples=0", "eval.workers=2",
         f"paths.data_dir={out / 'data'}", f"hydra.run.dir={tmp_path / 'first'}"),
        ("eval.py", f"ckpt={ckpt}", "eval.num_mixtures=6", "eval.num_examples=0", "eval.workers=1",
         f"paths.data_dir={out / 'data'}", f"hydra.run.dir={tmp_path / 'again'}"),
        ("eval.py", "task=word_classification", f"ckpt={ckpt}", f"hydra.run.dir={tmp_path / 'wrong'}"))
    assert first.returncode == 0 and again.returncode == 0, first.stderr[-3000:] + again.stderr[-3000:]
    with open(tmp_path / "first" / "mixtures.csv") as f, open(tmp_path / "again" / "mixtures.csv") as g:
        rows = list(csv.DictReader(f))
        assert len(rows) == 6 and list(csv.DictReader(g)) == rows  # the same fixed mixtures, any worker count
    assert wrong.returncode != 0 and "is a separation checkpoint" in wrong.stderr


def test_infer_separates_the_speaker_of_a_video_file(trained, tmp_path: Path):
    out, modality = trained
    ckpt = out / "run" / "checkpoints" / "last.ckpt"
    clips = sorted((out / "data").glob("synthetic_av_separation/*/*/test/*.npz"))
    target, other = load_clip(clips[0]), load_clip(clips[-1])
    mixture = 0.5 * (target.audio + other.audio)
    video = write_mp4(tmp_path / "talk.mp4", target.video, mixture)
    result = run("infer.py", "task=separation", f"video={video}", f"ckpt={ckpt}", "cropped=true",
                 f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "run" / "separation.json").read_text())
    expected = {"separated", "residual"} if modality == "av" else {"speaker1", "speaker2"}
    assert expected | {"mixture", "spectrograms"} == set(summary["files"])
    assert summary["frames"] == target.num_frames and all(Path(p).is_file() for p in summary["files"].values())


def test_separation_configs_are_checked_at_start_up(compose_train):
    with pytest.raises(ConfigError, match="separation separates audio: use modality=av"):
        validate_training_config(compose_train("experiment=separation", "modality=video"))
    with pytest.raises(ConfigError, match="do not fit together"):
        validate_training_config(compose_train("experiment=separation", "task=word_classification"))
    validate_training_config(compose_train("experiment=separation", "modality=audio"))


@pytest.mark.slow  # ~16 s; the staged runs themselves are in tests/test_resume.py
def test_the_audio_visual_recipe_trains_its_lip_stream_first_and_keeps_it_frozen(tmp_path: Path):
    import torch

    run_dir = tmp_path / "run"
    overrides = [o for o in TINY if o != "experiment=separation"]
    result = run("train.py", "experiment=av_separation", *overrides, "stages.lips.trainer.max_epochs=1",
                 f"paths.data_dir={tmp_path / 'data'}", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    lips = json.loads((run_dir / "lips" / "metrics.json").read_text())
    separation = json.loads((run_dir / "separation" / "metrics.json").read_text())
    assert "val/acc" in lips and np.isfinite(separation["test/si_sdri"]) and np.isfinite(separation["train/prior"])
    handed = json.loads((run_dir / "stages.json").read_text())["checkpoints"]["lips"]
    lip_state = torch.load(handed, map_location="cpu", weights_only=False)["state_dict"]
    separator_state = torch.load(run_dir / "separation" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    frontend = {k[len("net.frontend."):]: v for k, v in lip_state.items() if k.startswith("net.frontend.")}
    assert frontend
    for name, value in frontend.items():  # initialised from the lipreading stage, then not trained
        torch.testing.assert_close(separator_state[f"net.video_frontend.{name}"], value, msg=name)


@pytest.mark.slow  # ~30 s per modality; the table test below keeps the conditions in the default suite
def test_the_benchmark_by_condition_scores_each_condition_and_the_target_selection(trained, tmp_path: Path):
    out, modality = trained
    ckpt = out / "run" / "checkpoints" / "last.ckpt"
    common = [f"ckpt={ckpt}", "eval.num_mixtures=4", f"paths.data_dir={out / 'data'}"]
    result = run("eval.py", *common, "eval.conditions=[different_speakers,three_speakers,noise]", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    table = json.loads((tmp_path / "conditions.json").read_text())["conditions"]
    assert list(table) == ["different_speakers", "three_speakers", "noise"]
    assert all(row["mixtures"] == 4 for row in table.values())
    assert table["three_speakers"]["input_si_sdr"] < table["different_speakers"]["input_si_sdr"]  # two interferers
    for row in table.values():
        assert row["si_sdri"] == pytest.approx(row["si_sdr"] - row["input_si_sdr"], abs=1e-6) if "si_sdr" in row else True
        assert (0 <= row["selection_acc"] <= 1) if modality == "av" else np.isnan(row["selection_acc"])
    assert "| different_speakers |" in (tmp_path / "conditions.md").read_text()
    # A condition that changes nothing is the split's own mixtures: the same figures as plain batch evaluation.
    plain = tmp_path / "plain"
    assert run("eval.py", *common, "eval.workers=1", f"hydra.run.dir={plain}").returncode == 0
    metrics = json.loads((plain / "metrics.json").read_text())
    assert table["different_speakers"]["si_sdri"] == pytest.approx(metrics["test/si_sdri"], abs=1e-4)
    assert table["different_speakers"]["sdr"] == pytest.approx(metrics["test/sdr"], abs=1e-4)
    bad = run("eval.py", *common, "eval.conditions=[twins]", f"hydra.run.dir={tmp_path / 'bad'}")
    assert bad.returncode != 0 and "unknown condition(s) ['twins']; defined: different_speakers" in bad.stderr


def test_the_benchmark_table_puts_every_model_and_condition_in_one_table(trained, tmp_path: Path):
    from benchmarks.separation_conditions import steptime, table

    out, modality = trained
    text = table({modality: str(out / "run" / "checkpoints" / "last.ckpt")}, 3, tmp_path, conditions="[different_speakers,noise]")
    rows = [line.split(" | ") for line in text.splitlines()[2:]]
    assert [r[0].strip("| ") for r in rows] == ["different_speakers", "noise"] and all(r[1] == "3" for r in rows)
    assert all((r[-1].strip(" |") == "oracle") == (modality == "audio") for r in rows)
    if modality == "audio":  # seconds per step in alternating processes (one model here, to stay fast)
        times = steptime(rounds=1, steps=1, models={"audio-only": ("audio", ["model.unet.channels=[4,8,8,8,8]"])})
        assert len(times["audio-only"]) == 1 and times["audio-only"][0] > 0
