"""Every recipe of conf/experiment runs, for one batch, with its groups switched to their alternatives.

Each run is the real code path (run.train.train, or the staged driver) on tiny data: a fake LRW layout
for the LRW recipes, synthetic clips for the others, one training, validation and test batch. The
distillation recipes run their three documented commands (teacher alone, student alone, distilled;
born-again: its chain from generation 0); ``callbacks=ema`` and ``logger=wandb`` (offline) ride along.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from omegaconf import open_dict

from lipreading.data.synthetic import default_vocabulary
from lipreading.data.synthetic.espeak import espeak_available
from lipreading.data.synthetic.sentences import generate_sentence_dataset
from lipreading.data.tokenizer import CharTokenizer
from lipreading.run.checkpoint import read_checkpoint
from lipreading.run.evaluate import evaluate
from lipreading.run.import_checkpoint import import_checkpoint
from lipreading.run.stages import is_staged, train_stages
from lipreading.run.train import train
from tests.conftest import CONF, compose_config, write_word_dataset
from tests.helpers.reference_zoo import write_lrw_layout, write_reference_file
from tests.helpers.teachers import write_teacher

ONE_BATCH = ["trainer.max_epochs=1", "+trainer.limit_train_batches=1", "+trainer.limit_val_batches=1",
             "+trainer.limit_test_batches=1", "callbacks.dashboard=null", "callbacks.progress_bar.refresh_rate=0"]
LRW_WORDS = ["ABOUT", "AFTER", "BLACK"]
SYNTHETIC = ["data.num_classes=3", "data.clips_per_word={train:4,val:2,test:2}", "data.batch_size=2"]
# Recipes that other tests already run end to end (train.py, eval.py, infer.py as a user runs them).
RUN_ELSEWHERE = {
    "separation": "tests/test_separation.py (trained, both modalities)",
    "av_separation": "tests/test_separation.py::test_the_audio_visual_recipe_trains_its_lip_stream_first_and_keeps_it_frozen",
    "lrs3_auto_avsr": "tests/interop/test_auto_avsr.py::test_train_fine_tunes_the_import_on_auto_avsrs_prepared_layout",
    "cnvsrc_conformer": "tests/interop/test_cnvsrc.py::test_cnvsrc_conformer_trains_one_batch_from_the_import_on_the_baselines_prepared_layout",
}


@pytest.fixture(scope="module")
def lrw(tmp_path_factory):
    """A fake LRW (3 words, 2 clips a split, 24 px) and a tiny teacher trained on its vocabulary."""
    root = tmp_path_factory.mktemp("lrw")
    write_word_dataset(root / "roi", LRW_WORDS, per_split=2, size=24)
    teacher = write_teacher(root / "teacher" / "t.ckpt", LRW_WORDS, ("data.train_transform.crop_size=20", "data.frame_size=24"))
    overrides = [f"data.root={root / 'roi'}", "data.num_classes=3", "data.batch_size=2", "data.eval_batch_size=2",
                 "data.num_workers=0", "data.train_transform.crop_size=20", "trainer=cpu"]
    return overrides, teacher


def _run(tmp_path: Path, experiment: str, *overrides: str) -> dict:
    cfg = compose_config("train", [f"experiment={experiment}", *ONE_BATCH, *overrides], tmp_path)
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    metrics = train_stages(cfg) if is_staged(cfg) else train(cfg)
    assert metrics["objective"] is not None and math.isfinite(metrics["objective"])
    return metrics


def test_every_experiment_is_run_by_a_test():
    tested = {name for name, *_ in CASES} | set(RUN_ELSEWHERE)
    assert tested == {p.stem for p in (CONF / "experiment").glob("*.yaml")}


def _shufflenet(tmp_path, lrw, variant):
    overrides, teacher = lrw
    if variant == "teacher alone":
        metrics = _run(tmp_path, "distill_shufflenet_dsmstcn_lrw", *overrides, "task=word_classification", "model=resnet18_mstcn")
        assert read_checkpoint(metrics["best_checkpoint"]).config["model"]["frontend"]["_target_"].endswith("ResNetFrontend")
    elif variant == "student alone":
        metrics = _run(tmp_path, "distill_shufflenet_dsmstcn_lrw", *overrides, "task=word_classification")
        assert "train/loss_kd" not in metrics
    else:
        metrics = _run(tmp_path, "distill_shufflenet_dsmstcn_lrw", *overrides, f"task.teacher.checkpoint={teacher}")
        assert "train/loss_kd" in metrics
    stored = read_checkpoint(metrics["best_checkpoint"]).config
    assert stored["task"]["optimizer"]["lr"] == 3.0e-4 and stored["task"]["label_smoothing"] == 0.0  # the recipe


def _born_again(tmp_path, lrw, variant):
    """The chain: generation 0 alone (the teacher, and the student alone), generation 1 distilled from it."""
    overrides, _ = lrw
    summary = _run(tmp_path, "distill_born_again_lrw", *overrides, "generations=1")
    assert {"gen0", "gen1"} <= {p.name for p in (tmp_path / "run").iterdir()}
    assert "gen1/train/loss_kd" in summary and "gen0/train/loss_kd" not in summary
    gen1 = read_checkpoint(summary["gen1/best_checkpoint"])
    assert gen1.config["distilled_from"]["teacher"]["checkpoint"] == summary["gen0/best_checkpoint"]


def _distill_small(tmp_path, lrw, variant):
    if variant == "student alone, callbacks=ema":
        metrics = _run(tmp_path, "distill_synthetic_small", *SYNTHETIC, "task=word_classification", "callbacks=ema",
                       "callbacks.ema.update_starting_at_step=0")
        assert "train/loss_kd" not in metrics
        return
    teacher = write_teacher(tmp_path / "teacher" / "t.ckpt", default_vocabulary(3))
    metrics = _run(tmp_path, "distill_synthetic_small", *SYNTHETIC, f"task.teacher.checkpoint={teacher}",
                   "task.cache_teacher_logits=true")
    assert "train/loss_kd" in metrics and list((tmp_path / "teacher" / "teacher_logits").glob("*.pt"))


def _sentences(tmp_path, lrw, variant):
    metrics = _run(tmp_path, "synthetic_sentences", "data.clips={train:8,val:4,test:4}", "data.batch_size=4",
                   "data.eval_batch_size=4", "logger=wandb")
    assert 0.0 <= metrics["test/cer"] and len(list((tmp_path / "run" / "wandb").glob("offline-run-*"))) == 1
    import wandb

    assert wandb.run is None, "the run's W&B run is left open: the next run in this process would log into it"


def _published(tmp_path, lrw, variant):
    """The student distilled from an imported zoo teacher (a listing-built random one, the smallest entry)."""
    reference = write_reference_file(tmp_path / "zoo" / "snv05x_tcn1x.pth", "snv05x_tcn1x")
    teacher = import_checkpoint("tcn_reference", reference, tmp_path / "zoo" / "teacher.ckpt")
    root = write_lrw_layout(tmp_path / "lrw500")
    metrics = _run(tmp_path, "distill_published_lrw", f"data.root={root}", "data.batch_size=2", "data.eval_batch_size=2",
                   "data.num_workers=0", "data.train_transform.crop_size=20", "trainer=cpu",
                   f"task.teacher.checkpoint={teacher}")  # the student at 20 px; the teacher reads its 88x88 centre crop
    assert "train/loss_kd" in metrics
    stored = read_checkpoint(metrics["best_checkpoint"]).config
    assert stored["distilled_from"]["teacher"]["checkpoint"] == str(teacher)
    assert stored["model"]["frontend"]["_target_"].endswith("ShuffleNetV2Frontend") and stored["task"]["optimizer"]["lr"] == 3.0e-4


def _english(tmp_path, lrw, variant):
    metrics = _run(tmp_path, "synthetic_english_sentences", "data.clips={train:8,val:4,test:4}", "data.batch_size=4",
                   "data.eval_batch_size=4", "data.units.vocab_size=64")
    assert 0.0 <= metrics["test/wer"] and read_checkpoint(metrics["best_checkpoint"]).units().tokens[0] == "<blank>"


def _sentences_lm(tmp_path, lrw, variant):
    metrics = _run(tmp_path, "synthetic_sentences_lm", "data.sentences.clips={train:8,val:4,test:4}", "data.batch_size=4")
    lm = read_checkpoint(metrics["best_checkpoint"])
    assert lm.kind == "language_model" and lm.input["modality"] == "text" and math.isfinite(metrics["test/ppl"])
    (train_csv,) = (tmp_path / "data" / "synthetic_sentences").glob("*/train.csv")  # the root names grammar, size, count
    with train_csv.open(encoding="utf-8") as f:
        assert lm.units() == CharTokenizer.build(row["text"] for row in csv.DictReader(f))  # the sentence model's units
    cfg = compose_config("eval", [f"ckpt={metrics['best_checkpoint']}"], tmp_path / "eval")  # eval.py: its perplexity
    assert evaluate(cfg)["test/ppl"] == pytest.approx(metrics["test/ppl"], rel=1e-5)


def _english_lm(tmp_path, lrw, variant):
    """The documented pair: the English sentence model and the LM on its transcripts share their units, and
    eval.py fuses them (SentencePiece pieces as the LM's tokens)."""
    tiny = ["data.clips={train:8,val:4,test:4}", "data.units.vocab_size=64"]
    sentences = _run(tmp_path / "sentences", "synthetic_english_sentences", *tiny, "data.batch_size=4", "data.eval_batch_size=4")
    metrics = _run(tmp_path / "lm", "synthetic_english_sentences_lm", *(f"data.sentences.{o[5:]}" for o in tiny), "data.batch_size=4")
    lm = read_checkpoint(metrics["best_checkpoint"])
    assert lm.kind == "language_model" and math.isfinite(metrics["test/ppl"])
    assert lm.units() == read_checkpoint(sentences["best_checkpoint"]).units()
    cfg = compose_config("eval", [f"ckpt={sentences['best_checkpoint']}", "decoding.method=beam", "decoding.beam_size=2",
                                  f"decoding.lm.ckpt={metrics['best_checkpoint']}", "decoding.lm.weight=0.3"], tmp_path / "eval")
    assert math.isfinite(evaluate(cfg)["test/wer"])


def _chinese_lips(tmp_path, lrw, variant):
    root = generate_sentence_dataset(tmp_path / "lips", {"train": 8, "val": 4, "test": 4}, progress=False)
    metrics = _run(tmp_path, "chinese_lips", f"data.root={root}", "data.batch_size=4", "data.eval_batch_size=4",
                   "data.num_workers=0", "data.preload=false", "data.train_transform.crop_size=20", "trainer=cpu",
                   "task.decoding.beam_size=2", "task.decoding.max_length=4",
                   "task.scheduler.warmup_epochs=0")  # one batch leaves no room for its 1-epoch warm-up
    assert 0.0 <= metrics["test/cer"]


def _av_words(tmp_path, lrw, variant):
    if not espeak_available():
        pytest.skip("needs the optional speech extra (pip install '.[speech]')")
    summary = _run(tmp_path, "av_synthetic_words", *SYNTHETIC, "data.clips_per_word={train:4,val:2,test:2}",
                   "stages.audio.trainer.max_epochs=1", "stages.av.trainer.max_epochs=1", "snr_evaluation.noises=[white]",
                   "snr_evaluation.snrs=[clean,0]")
    assert {"audio", "video", "av"} <= {k.split("/")[0] for k in summary} and "| av |" in (tmp_path / "run" / "snr.md").read_text()


def _separation_benchmark(tmp_path, lrw, variant):
    """The GPU recipe's four stages on CPU: lips, then the audio-visual separator, the same with fusion
    attention, and the audio-only baseline, all on mixtures with a share of same-voice ones."""
    if not espeak_available():
        pytest.skip("needs the optional speech extra (pip install '.[speech]')")
    tiny = ["trainer=cpu", "data.clips.num_classes=2", "data.clips.clips_per_word={train:8,val:2,test:2}",
            "data.batch_size=4", "data.clips.batch_size=4", "data.eval_batch_size=4", "data.num_val_mixtures=2",
            "data.num_test_mixtures=2", "model.unet.channels=[4,8,8,8,8]", "model.unet.bottleneck_dim=16",
            *(f"stages.{stage}.trainer.max_epochs=1" for stage in ("lips", "separation", "attention", "audio"))]
    _run(tmp_path, "separation_benchmark_gpu", *tiny)
    checkpoints = json.loads((tmp_path / "run" / "stages.json").read_text())["checkpoints"]
    configs = {stage: read_checkpoint(checkpoints[stage]).config for stage in ("separation", "attention", "audio")}
    assert configs["attention"]["model"]["unet"]["fusion_attention"] == 2 and configs["separation"]["model"]["unet"]["fusion_attention"] == 0
    assert configs["audio"]["modality"] == "audio" and configs["attention"]["task"]["frozen"] == ["video_frontend"]
    assert all(c["data"]["same_voice_fraction"] == 0.25 for c in configs.values())


CASES = [
    ("distill_shufflenet_dsmstcn_lrw", "teacher alone", _shufflenet),
    ("distill_shufflenet_dsmstcn_lrw", "student alone", _shufflenet),
    ("distill_shufflenet_dsmstcn_lrw", "distilled", _shufflenet),
    ("distill_published_lrw", "from an imported zoo teacher", _published),
    ("distill_born_again_lrw", "the chain from generation 0: alone, then distilled", _born_again),
    ("distill_synthetic_small", "student alone, callbacks=ema", _distill_small),
    ("distill_synthetic_small", "distilled, cached teacher", _distill_small),
    ("synthetic_sentences", "logger=wandb offline", _sentences),
    ("synthetic_english_sentences", "SentencePiece units", _english),
    ("synthetic_sentences_lm", "the transcripts' units", _sentences_lm),
    ("synthetic_english_sentences_lm", "the English model's units, fused by eval.py", _english_lm),
    ("chinese_lips", "on the processed layout", _chinese_lips),
    ("av_synthetic_words", "three stages and the SNR table", _av_words),
    ("separation_benchmark_gpu", "its four stages on CPU", _separation_benchmark),
]


@pytest.mark.parametrize("experiment, variant, check", CASES, ids=[f"{e}: {v}" for e, v, _ in CASES])
def test_the_experiment_runs_one_batch(tmp_path, lrw, monkeypatch, experiment, variant, check):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    monkeypatch.setenv("WANDB_MODE", "offline")
    check(tmp_path, lrw, variant)
