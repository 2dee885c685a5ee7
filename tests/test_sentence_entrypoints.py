"""train.py / eval.py / infer.py / stats.py / export.py on sentences, and infer.py on a word checkpoint (subprocesses)."""

import csv
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from lipreading.data.clip import load_clip
from lipreading.run.build import restore_task
from lipreading.run.checkpoint import read_checkpoint
from lipreading.run.infer import infer
from lipreading.run.mouth import model_inputs
from lipreading.run.sentence_onnx import OnnxSentenceModel
from lipreading.utils.errors import ConfigError
from tests.helpers.face_video import face_still, talking_head, write_video  # noqa: F401 (fixture)
from tests.helpers.teachers import write_teacher
from tests.test_entrypoints import run

SENTENCES = ["experiment=synthetic_sentences", "data.grammar=tiny", "data.clips={train:24,val:6,test:8}",
             "data.batch_size=4", "trainer.max_epochs=1", "data.generation_workers=1"]


@pytest.fixture(scope="module")
def sentence_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("sentences")
    result = run("train.py", *SENTENCES, f"paths.data_dir={out / 'data'}", f"hydra.run.dir={out / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    return out


def test_train_then_eval_writes_per_utterance_cer(sentence_run, tmp_path):
    run_dir = sentence_run / "run"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert 0.0 <= metrics["test/cer"] and metrics["objective"] == metrics["test/cer"]
    tokens = json.loads((run_dir / "checkpoints" / "tokenizer.json").read_text())["tokens"]
    assert tokens[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    result = run("eval.py", f"ckpt={run_dir / 'checkpoints' / 'last.ckpt'}", f"hydra.run.dir={tmp_path}",
                 "decoding.method=beam", "decoding.beam_size=3")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader((tmp_path / "predictions.csv").open(encoding="utf-8")))
    assert len(rows) == 8 and set(rows[0]) == {"id", "path", "reference", "hypothesis", "cer"}
    evaluated = json.loads((tmp_path / "metrics.json").read_text())
    assert evaluated["test/num_samples"] == 8 and evaluated["decoding"]["method"] == "beam"


def test_infer_decodes_a_video_and_scores_it(sentence_run, tmp_path):
    clip = load_clip(next((sentence_run / "data").rglob("test_000000.npz")))
    frames = np.stack([cv2.cvtColor(cv2.resize(f, (96, 96)), cv2.COLOR_GRAY2BGR) for f in clip.video])
    video = write_video(tmp_path / "mouth.mp4", frames)
    result = run("infer.py", f"video={video}", f"ckpt={sentence_run / 'run' / 'checkpoints' / 'last.ckpt'}",
                 "cropped=true", "save_roi=true", f"ground_truth='{clip.label}'", f"hydra.run.dir={tmp_path / 'infer'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "hypothesis:" in result.stdout and "CER:" in result.stdout
    transcript = json.loads((tmp_path / "infer" / "transcript.json").read_text())
    assert transcript["frames"] == clip.num_frames and transcript["ground_truth"] == clip.label
    roi = load_clip(tmp_path / "infer" / "mouth_roi.npz")
    assert roi.video.shape[1:] == (48, 48) and (tmp_path / "infer" / "mouth_roi.mp4").stat().st_size > 0


def test_stats_prints_sizes_vocabulary_and_oov(sentence_run, tmp_path):
    result = run("stats.py", *SENTENCES[1:3], f"paths.data_dir={sentence_run / 'data'}", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train:      24 clips" in result.stdout and "vocabulary:" in result.stdout and "OOV test" in result.stdout


def test_infer_prints_top_words_of_a_word_checkpoint(tmp_path, face_still):
    # A real face through the whole preprocessing (MediaPipe, alignment, crop) into a word model.
    ckpt = write_teacher(tmp_path / "word.ckpt", ["ABOUT", "BLACK", "CHILD", "DEATH"])
    video = write_video(tmp_path / "face.mp4", talking_head(face_still, 20).frames)
    result = run("infer.py", f"video={video}", f"ckpt={ckpt}", "top_k=3", "save_roi=true",
                 f"hydra.run.dir={tmp_path / 'infer'}")
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line.split() for line in result.stdout.strip().splitlines()[-3:]]
    assert len(lines) == 3 and all(w in {"ABOUT", "BLACK", "CHILD", "DEATH"} and 0 <= float(p) <= 1 for w, p in lines)
    assert load_clip(tmp_path / "infer" / "mouth_roi.npz").video.shape == (20, 48, 48)
    assert (tmp_path / "infer" / "preview.jpg").is_file()  # faces, lips and crop drawn on 4 frames


def test_infer_without_a_video_says_so():
    with pytest.raises(ConfigError, match="video="):
        infer(OmegaConf.create({"video": None, "ckpt": "x.ckpt"}))


def test_export_writes_onnx_graphs_that_transcribe_a_clip_as_pytorch_does(sentence_run, tmp_path):
    ckpt = sentence_run / "run" / "checkpoints" / "last.ckpt"
    clip_path = next((sentence_run / "data").rglob("test_000000.npz"))
    result = run("export.py", f"ckpt={ckpt}", f"check_clip={clip_path}", "example_frames=12", f"output={tmp_path / 'onnx'}",
                 f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    described = json.loads((tmp_path / "onnx" / "sentence_model.json").read_text())
    assert described["check"]["sample"] == str(clip_path) and described["decoder"] is None  # the CTC recipe
    checkpoint = read_checkpoint(ckpt)
    video, lengths = model_inputs(load_clip(clip_path), checkpoint)
    task, _ = restore_task(checkpoint)
    with torch.no_grad():
        expected = task.transcribe(video, lengths)
    assert OnnxSentenceModel(tmp_path / "onnx").transcribe(video.numpy(), lengths.numpy()) == expected
    assert described["check"]["transcripts"]["ctc_greedy"] == expected


@pytest.mark.slow  # ~25 s; test_experiments.py runs the English recipe for one batch in the default suite
def test_english_sentences_train_and_evaluate_with_sentencepiece_units(tmp_path):
    """The English default end to end on its tiny grammar: SentencePiece units trained, stored, read back by eval.py."""
    english = ["experiment=synthetic_english_sentences", "data.grammar=tiny", "data.clips={train:24,val:6,test:8}",
               "data.batch_size=4", "trainer.max_epochs=1", "data.generation_workers=1", "task.decoding.max_length=12"]
    result = run("train.py", *english, f"paths.data_dir={tmp_path / 'data'}", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    units = json.loads((tmp_path / "run" / "checkpoints" / "tokenizer.json").read_text())
    assert units["type"] == "sentencepiece" and units["pieces"][0] == "<unk>" and "▁FRIEND" in units["pieces"]
    assert 0.0 <= json.loads((tmp_path / "run" / "metrics.json").read_text())["test/wer"]
    result = run("eval.py", f"ckpt={tmp_path / 'run' / 'checkpoints' / 'last.ckpt'}", f"hydra.run.dir={tmp_path / 'eval'}",
                 "decoding.method=beam", "decoding.beam_size=2", "decoding.max_length=12")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader((tmp_path / "eval" / "predictions.csv").open(encoding="utf-8")))
    assert len(rows) == 8 and all(r["reference"] == r["reference"].upper() for r in rows)
