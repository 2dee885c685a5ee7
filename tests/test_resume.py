"""Runs that survive: killed at any step and resumed, every task ends exactly like an uninterrupted run.

The property tests train in this process (a crash is :class:`~tests.helpers.crash.SimulatedCrash`
raised after a random step: the run dir then holds what a kill leaves) and compare the final
checkpoint (every tensor of the weights, the EMA weights and the optimizer) and the validation and
test metrics bit for bit. ``RESUME_KILL_STEP=N`` replays one step; a failure names the step drawn.
One test kills a real process with SIGKILL (train.py, as a user runs it).

The default run keeps the words, the born-again generations (a stage, and a distillation run with a
teacher) and the SIGKILL test; the other tasks' property tests are marked ``slow`` (``make test-slow``),
to keep the default suite in its time budget.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict

from lipreading.data.synthetic import default_vocabulary
from lipreading.data.synthetic.espeak import espeak_available
from lipreading.run import separation as separation_evaluation
from lipreading.run.checkpoint import read_checkpoint
from lipreading.run.evaluate import evaluate
from lipreading.run.stages import train_stages
from lipreading.run.train import train
from lipreading.utils.resume import checkpoint_problem
from tests.conftest import CONF
from tests.helpers.crash import SimulatedCrash
from tests.helpers.teachers import TINY_MODEL, write_teacher
from tests.test_entrypoints import run

needs_speech = pytest.mark.skipif(not espeak_available(), reason="needs the optional speech extra (pip install '.[speech]')")

# 3 words x 8 clips of 24x24 (cropped to 20) and 16 frames, batch 4: the loader has 6 batches, of
# which Lightning takes 3 per epoch (limit_train_batches, the reported case); a resume checkpoint
# every 2 steps and after every validation; mixup and time masking draw random numbers every step.
SMALL_CLIPS = ["data.frame_size=24", "data.num_frames=16", "data.train_transform.crop_size=20", "data.generation_workers=1"]
QUIET = ["callbacks.dashboard=null", "callbacks.lr_monitor=null", "callbacks.progress_bar=null"]
WORDS = [*TINY_MODEL, *SMALL_CLIPS, *QUIET, "data.num_classes=3", "data.clips_per_word={train:8,val:3,test:3}",
         "data.batch_size=4", "+trainer.limit_train_batches=3", "trainer.max_epochs=3",
         "callbacks.resume_checkpoint.every_n_train_steps=2", "data.train_transform.max_mask_frames=3",
         "task.mixup_alpha=0.4"]
# The sentence run: attention decoder beside CTC, teacher forcing decaying over the run.
SENTENCES = ["experiment=synthetic_sentences", "model=small_bigru_attention", "data.grammar=tiny",
             "data.clips={train:12,val:4,test:4}", "data.batch_size=4", "data.generation_workers=1",
             "data.frame_size=24", "data.train_transform.crop_size=20", "data.max_frames=60",
             "trainer.max_epochs=2", "callbacks.resume_checkpoint.every_n_train_steps=2", "task.ctc_weight=0.3",
             "task.teacher_forcing={initial:1.0,final:0.5,decay_start:0.0,decay_end:1.5}",
             "model.frontend.stem_channels=4", "model.frontend.stages=[[8,2]]", "model.backend.stages.tcn.branch_channels=8",
             "model.backend.stages.tcn.num_layers=1", "model.backend.stages.bigru.hidden_size=8",
             "model.backend.stages.bigru.num_layers=1", "model.decoder.embed_dim=8", "model.decoder.hidden_dim=8",
             "model.decoder.num_heads=2", "task.decoding.max_length=12", *QUIET]
# The audio-visual words, 3 words: both streams, noise augmentation (its own generator and babble bank).
AV_CLIPS = ["data.num_classes=3", "data.clips_per_word={train:8,val:3,test:3}", "data.frame_size=24",
            "data.num_frames=16", "data.train_transform.crop_size=20", "data.generation_workers=1"]
AV_WORDS = ["data=synthetic_av_words", "model=av_small_tcn", "modality=av", *AV_CLIPS, "data.batch_size=4",
            "+trainer.limit_train_batches=3", "trainer.max_epochs=2", "callbacks.resume_checkpoint.every_n_train_steps=2",
            "model.video_frontend.stem_channels=4", "model.video_frontend.stages=[[8,2]]",
            "model.backend.branch_channels=8", "model.backend.num_layers=1", *QUIET]
# Mixtures of the same clips (the same root: generated once).
SEPARATION = ["experiment=separation", *(o.replace("data.", "data.clips.", 1) for o in AV_CLIPS),
              "data.clips.root=${paths.data_dir}/synthetic_av_words/3w_24px_seed0", "data.batch_size=4",
              "data.eval_batch_size=4", "data.num_val_mixtures=4", "data.num_test_mixtures=4",
              "model.unet.channels=[4,8,8,8,8]", "model.unet.bottleneck_dim=16", "model.unet.temporal_layers=1",
              "model.video_frontend.stem_channels=4", "model.video_frontend.stages=[[8,2]]",
              "model.video_backend.branch_channels=8", "model.video_backend.num_layers=1", "trainer.max_epochs=2",
              "+trainer.limit_train_batches=3", "callbacks.resume_checkpoint.every_n_train_steps=2", *QUIET]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """One data dir for the module's runs: each dataset is generated once."""
    return tmp_path_factory.mktemp("data")


def compose_run(overrides: list[str], run_dir: Path, data_dir: Path):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        cfg.paths.data_dir = str(data_dir)
        cfg.paths.log_dir = str(run_dir / "logs")
    return cfg


def train_in(run_dir: Path, data_dir: Path, overrides: list[str], crash_at: int | None = None) -> None:
    crash = [f"+callbacks.crash={{_target_:tests.helpers.crash.CrashAtStep,step:{crash_at}}}"] if crash_at else []
    cfg = compose_run([*overrides, *crash], run_dir, data_dir)
    if crash_at is None:
        train(cfg)
        return
    with pytest.raises(SimulatedCrash):
        train(cfg)


def final_checkpoint(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)


def tensors(tree, prefix=""):
    """Every tensor in a nested checkpoint structure, by path."""
    if isinstance(tree, torch.Tensor):
        yield prefix, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from tensors(value, f"{prefix}/{key}")
    elif isinstance(tree, (list, tuple)):
        for i, value in enumerate(tree):
            yield from tensors(value, f"{prefix}/{i}")


def differing_tensors(expected: dict, actual: dict) -> list[str]:
    """The paths of the tensors (weights, EMA weights, optimizer state) that differ between two checkpoints."""
    keys = ("state_dict", "current_model_state", "averaging_state", "optimizer_states", "lr_schedulers")
    a = dict(tensors({k: expected[k] for k in keys if k in expected}))
    b = dict(tensors({k: actual[k] for k in keys if k in actual}))
    assert a.keys() == b.keys()
    return [name for name in a if not torch.equal(a[name], b[name])]


def evaluation_metrics(run_dir: Path) -> dict[str, float]:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {k: v for k, v in metrics.items() if k.startswith(("val/", "test/"))}


def assert_resumed_exactly(full: Path, resumed: Path, where: str) -> None:
    expected, actual = final_checkpoint(full), final_checkpoint(resumed)
    assert actual["global_step"] == expected["global_step"], where
    differ = differing_tensors(expected, actual)
    assert not differ, f"{where}: {len(differ)} tensors differ, e.g. {differ[:3]}"
    assert expected["state_dict"], where
    m_full, m_resumed = evaluation_metrics(full), evaluation_metrics(resumed)
    assert m_full and m_full.keys() == m_resumed.keys(), where
    for key, value in m_full.items():
        assert math.isclose(value, m_resumed[key], rel_tol=0, abs_tol=0) or (math.isnan(value) and math.isnan(m_resumed[key])), \
            f"{where}: {key} {value} != {m_resumed[key]}"


def kill_step(total_steps: int) -> int:
    """A step in [1, total_steps - 1] to crash after: RESUME_KILL_STEP if set, else drawn afresh each run."""
    if "RESUME_KILL_STEP" in os.environ:
        step = int(os.environ["RESUME_KILL_STEP"])
        if not 1 <= step < total_steps:
            pytest.skip(f"RESUME_KILL_STEP={step} is not inside this run's {total_steps} steps")
        return step
    return random.SystemRandom().randint(1, total_steps - 1)


def check_resume_property(tmp_path: Path, data_dir: Path, overrides: list[str], label: str) -> None:
    """Uninterrupted run; a run crashed after a random step; rerun with resume=auto: both end the same."""
    full = tmp_path / "full"
    train_in(full, data_dir, overrides)
    step = kill_step(final_checkpoint(full)["global_step"])
    where = f"{label}, crashed after step {step} (replay: RESUME_KILL_STEP={step})"
    crashed = tmp_path / "crashed"
    train_in(crashed, data_dir, overrides, crash_at=step)
    assert not (crashed / "metrics.json").exists(), where
    train_in(crashed, data_dir, [*overrides, "resume=auto"])
    assert_resumed_exactly(full, crashed, where)


def test_words_resume_exactly_from_any_step(tmp_path, data_dir):
    check_resume_property(tmp_path, data_dir, WORDS, "words")


@pytest.mark.slow
def test_words_with_ema_resume_exactly_from_any_step(tmp_path, data_dir):
    check_resume_property(tmp_path, data_dir, [*WORDS, "callbacks=ema", "callbacks.ema.update_starting_at_step=2"],
                          "words + EMA")


@pytest.mark.slow
def test_sentences_resume_exactly_from_any_step(tmp_path, data_dir):
    check_resume_property(tmp_path, data_dir, SENTENCES, "sentences")


@pytest.mark.slow
@pytest.mark.parametrize("cached", [False, True], ids=["live_teacher", "cached_teacher_logits"])
def test_distillation_resumes_exactly_from_any_step(tmp_path, data_dir, cached):
    teacher = write_teacher(tmp_path / "teacher" / "teacher.ckpt", default_vocabulary(3), tuple(SMALL_CLIPS))
    check_resume_property(tmp_path, data_dir, [*WORDS, "task=distillation", f"task.teacher.checkpoint={teacher}",
                                               f"task.cache_teacher_logits={str(cached).lower()}"], "distillation")


@pytest.mark.slow
@needs_speech
def test_audio_visual_words_resume_exactly_from_any_step(tmp_path, data_dir):
    check_resume_property(tmp_path, data_dir, AV_WORDS, "audio-visual words")


@pytest.mark.slow
@needs_speech
def test_separation_resumes_exactly_from_any_step(tmp_path, data_dir):
    check_resume_property(tmp_path, data_dir, SEPARATION, "separation")


@pytest.mark.slow
@needs_speech
def test_a_killed_batch_separation_evaluation_continues_where_it_stopped(tmp_path, data_dir, monkeypatch):
    train_in(tmp_path / "train", data_dir, [*SEPARATION, "trainer.max_epochs=1", "test=false"])
    ckpt = tmp_path / "train" / "checkpoints" / "last.ckpt"

    def evaluate_in(run_dir):
        with initialize_config_dir(str(CONF), version_base="1.3"):
            cfg = compose(config_name="eval", overrides=[f"ckpt={ckpt}", "eval.num_mixtures=10", "eval.num_examples=3",
                                                           "eval.chunk_mixtures=4", "eval.workers=1"])
        with open_dict(cfg):
            cfg.paths.output_dir, cfg.paths.data_dir = str(run_dir), str(data_dir)
        return evaluate(cfg)

    def outputs(run_dir):
        return {name: (run_dir / name).read_text() for name in ("mixtures.csv", "metrics.json", "by_level.csv")}

    evaluate_in(tmp_path / "full")
    measured, crashed, real = [], [], separation_evaluation.compute_metrics

    def crash_in_the_second_chunk(records, *args):
        if len(measured) == 4 and not crashed:
            crashed.append(True)
            raise SimulatedCrash("killed while measuring mixtures 4-7")
        measured.extend(r["index"] for r in records)
        return real(records, *args)

    monkeypatch.setattr(separation_evaluation, "compute_metrics", crash_in_the_second_chunk)
    with pytest.raises(SimulatedCrash):
        evaluate_in(tmp_path / "crashed")
    assert not (tmp_path / "crashed" / "metrics.json").exists()
    evaluate_in(tmp_path / "crashed")
    assert measured == list(range(10)), "the rerun measured only the mixtures not measured before"
    assert outputs(tmp_path / "crashed") == outputs(tmp_path / "full")
    assert sorted(p.name for p in (tmp_path / "crashed" / "examples").iterdir()) == ["000", "001", "002"]


# Two stages of one run dir: a plain staged run (the second stage with another seed), and born-again
# generations (gen0, the student's word task alone; gen1 distilled from gen0's best checkpoint).
STAGED = {
    "stages": [*WORDS, "trainer.max_epochs=2", "+stages={first:{trainer:{max_epochs:1}},second:{seed:7}}"],
    "generations": [*WORDS, "trainer.max_epochs=2", "task=distillation", "generations=1"],
}


@pytest.mark.parametrize("kind, first, second", [  # generations: a stage and a distillation run (a teacher) in one
    pytest.param("stages", "first", "second", marks=pytest.mark.slow), ("generations", "gen0", "gen1")])
def test_a_kill_inside_stage_2_resumes_stage_2_and_leaves_stage_1_untouched(tmp_path, data_dir, kind, first, second):
    overrides = STAGED[kind]

    def train_stages_in(run_dir, extra=()):
        train_stages(compose_run([*overrides, *extra], run_dir, data_dir))

    full, crashed = tmp_path / "full", tmp_path / "crashed"
    train_stages_in(full)
    step = kill_step(final_checkpoint(full / second)["global_step"])
    where = f"{kind}: {second} crashed after step {step} (replay: RESUME_KILL_STEP={step})"
    with pytest.raises(SimulatedCrash):  # in the second stage only
        train_stages_in(crashed, [f"+callbacks.crash={{_target_:tests.helpers.crash.CrashAtStep,step:{step},stage:{second}}}"])
    assert (crashed / first / "metrics.json").is_file() and not (crashed / second / "metrics.json").exists(), where
    earlier = {p: p.read_bytes() for p in (crashed / first).rglob("*") if p.is_file() and p.suffix in (".ckpt", ".json")}
    train_stages_in(crashed)
    assert {p: p.read_bytes() for p in earlier} == earlier, f"{where}: {first} was trained again"
    assert_resumed_exactly(full / first, crashed / first, where)
    assert_resumed_exactly(full / second, crashed / second, where)
    if kind == "generations":  # gen1 was distilled, from the best checkpoint of its own run's gen0
        teacher = Path(final_checkpoint(crashed / second)["config"]["distilled_from"]["teacher"]["checkpoint"])
        assert teacher.parent == crashed / first / "checkpoints" and teacher.name.startswith("epoch"), where


@pytest.mark.slow
def test_a_damaged_newest_checkpoint_is_reported_and_an_older_whole_one_resumed(tmp_path, data_dir, caplog):
    full, crashed = tmp_path / "full", tmp_path / "crashed"
    train_in(full, data_dir, WORDS)
    train_in(crashed, data_dir, WORDS, crash_at=4)  # last.ckpt: step 3 (validation end of epoch 0)
    last = crashed / "checkpoints" / "last.ckpt"
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])  # as a copy cut short leaves it
    assert "truncated" in checkpoint_problem(last)
    caplog.set_level(logging.INFO, "lipreading.utils.resume")
    train_in(crashed, data_dir, [*WORDS, "resume=auto"])
    assert f"resume=auto: skipping {last}: it is truncated" in caplog.text
    assert "resume=auto: resuming from" in caplog.text and "epoch000-acc" in caplog.text
    assert_resumed_exactly(full, crashed, "resumed from the best checkpoint of epoch 0")


def test_killed_train_py_resumes_to_the_same_weights_and_metrics(tmp_path, data_dir):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the subprocesses (OMP_NUM_THREADS=1): sums over threads round differently
    try:
        train_in(tmp_path / "full", data_dir, WORDS)  # in this process: the same code as train.py's
    finally:
        torch.set_num_threads(threads)
    crashed, common = tmp_path / "crashed", [*WORDS, f"paths.data_dir={data_dir}"]
    killed = run("train.py", *common, f"hydra.run.dir={crashed}",
                 "+callbacks.killer._target_=tests.helpers.crash.KillAtStep", "+callbacks.killer.step=4")
    assert killed.returncode == -9, "the run should have been SIGKILLed"
    interrupted = final_checkpoint(crashed)
    assert interrupted["global_step"] == 3, "the resume checkpoint is the one of the first validation"
    assert interrupted["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [{"epoch": 0, "batches_trained": 3}]
    assert [p.name for p in (crashed / "checkpoints").glob("last*.ckpt")] == ["last.ckpt"], "one resume checkpoint"
    resumed = run("train.py", *common, f"hydra.run.dir={crashed}", "resume=auto")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr + resumed.stdout
    assert_resumed_exactly(tmp_path / "full", crashed, "train.py killed after step 4")


def test_a_bad_option_is_one_clear_sentence(tmp_path):
    result = run("train.py", "resume=sometimes", f"paths.data_dir={tmp_path / 'data'}", f"hydra.run.dir={tmp_path / 'r'}")
    assert result.returncode == 1 and "resume='sometimes' is not valid" in result.stderr, result.stderr[-2000:]


def test_a_training_split_smaller_than_a_batch_is_named(tmp_path):
    """The check behind the same one-sentence error (a ConfigError, which train.py prints as one line)."""
    import hydra

    from lipreading.utils.errors import ConfigError
    from tests.conftest import compose_config

    cfg = compose_config("train", ["data.num_classes=3", "data.clips_per_word={train:2,val:1,test:1}"], tmp_path)
    datamodule = hydra.utils.instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    with pytest.raises(ConfigError, match="the training split has 6 clips, fewer than one batch"):
        datamodule.train_dataloader()
