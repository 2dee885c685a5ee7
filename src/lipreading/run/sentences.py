"""Sentence checkpoints: evaluation on a split (CER, WER, per-utterance predictions) and the sentence of one video."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from torchmetrics.functional.text import char_error_rate, word_error_rate

from lipreading.data.clip import Clip
from lipreading.reports.sentences import write_worst_utterances
from lipreading.run.build import restore_task
from lipreading.run.checkpoint import Checkpoint
from lipreading.run.language_model import fusion_model
from lipreading.run.mouth import model_inputs, read_mouth
from lipreading.run.subtitles import Subtitle, transcribe_windows, write_subtitles
from lipreading.run.transcript import Transcript, write_transcript
from lipreading.utils.errors import ConfigError
from lipreading.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


def sentence_predictions(outputs: list[dict[str, Any]]) -> tuple[dict[str, float], str]:
    """Corpus CER/WER of predict outputs and the per-utterance CSV (id, path, reference, hypothesis, cer)."""
    hypotheses = [h for o in outputs for h in o["hypothesis"]]
    references = [r for o in outputs for r in o["reference"]]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "path", "reference", "hypothesis", "cer"])
    rows = zip((i for o in outputs for i in o["id"]), (p for o in outputs for p in o["path"]), references, hypotheses)
    for clip_id, path, reference, hypothesis in rows:
        writer.writerow([clip_id, path, reference, hypothesis, f"{float(char_error_rate(hypothesis, reference)):.4f}"])
    metrics = {
        "cer": float(char_error_rate(hypotheses, references)),
        "wer": float(word_error_rate(hypotheses, references)),
        "sentence_accuracy": sum(h == r for h, r in zip(hypotheses, references)) / max(len(references), 1),
        "num_samples": float(len(references)),
    }
    return metrics, out.getvalue()


def decoding_overrides(cfg: DictConfig) -> dict[str, Any]:
    """The ``decoding.*`` settings given on the command line (null keeps the checkpoint's), without ``lm``."""
    overrides = OmegaConf.to_container(cfg.get("decoding") or OmegaConf.create({}), resolve=True)
    return {k: v for k, v in overrides.items() if v is not None and k != "lm"}


def fusion_settings(cfg: DictConfig, checkpoint: Checkpoint) -> dict[str, Any]:
    """``decoding.lm.ckpt`` / ``decoding.lm.weight``: the language model fused in the beam search and its
    weight (``{}`` without one); the decoding method must then be beam."""
    lm = OmegaConf.select(cfg, "decoding.lm", default=None) or {}
    if not lm.get("ckpt"):
        return {}
    method = OmegaConf.select(cfg, "decoding.method", default=None) or (
        checkpoint.config["task"].get("decoding") or {}).get("method", "greedy")
    if method != "beam":
        raise ConfigError(f"decoding.lm.ckpt={lm.ckpt} is fused in the beam search; add decoding.method=beam "
                          f"(the decoding method is {method})")
    weight = lm.get("weight")
    if weight is None or not float(weight) >= 0.0:
        raise ConfigError(f"decoding.lm.weight={weight}: give the language model's weight, a number >= 0 (e.g. 0.3)")
    log.info("shallow fusion with the language model %s at weight %s", lm.ckpt, weight)
    return {"lm": fusion_model(str(lm.ckpt), checkpoint), "lm_weight": float(weight)}


def described(decoding: dict[str, Any], cfg: DictConfig) -> dict[str, Any]:
    """The decoding settings as metrics.json records them (the language model by its path)."""
    out = {k: v for k, v in decoding.items() if k != "lm"}
    return {**out, "lm": str(cfg.decoding.lm.ckpt)} if "lm" in decoding else out


def evaluate_sentences(cfg: DictConfig, checkpoint: Checkpoint) -> dict[str, float]:
    """Corpus CER/WER of a sentence checkpoint on ``cfg.split`` (``decoding`` overrides the checkpoint's decoding)."""
    for option in ("tta", "save_log_probs"):
        if cfg.get(option):
            raise ConfigError(f"{option}={cfg.get(option)} applies to word checkpoints; {cfg.ckpt} is a sentence checkpoint")
    task, train_cfg = restore_task(checkpoint)
    task.decoding.update({**decoding_overrides(cfg), **fusion_settings(cfg, checkpoint)})
    datamodule = hydra.utils.instantiate(OmegaConf.merge(train_cfg.data, cfg.get("data") or {}))
    datamodule.tokenizer = task.tokenizer
    datamodule.predict_split = cfg.split
    datamodule.prepare_data()
    trainer = hydra.utils.instantiate(cfg.trainer)
    outputs = trainer.predict(task, datamodule=datamodule)
    metrics, table = sentence_predictions(outputs)
    metrics = {f"{cfg.split}/{k}": v for k, v in metrics.items()}
    output_dir = Path(cfg.paths.output_dir)
    atomic_write_json(output_dir / "metrics.json", {"checkpoint": str(cfg.ckpt), "decoding": described(task.decoding, cfg),
                                                    **metrics})
    atomic_write_text(output_dir / "predictions.csv", table)
    write_worst_utterances(output_dir, table)
    log.info("%s: %s (written to %s)", cfg.ckpt, metrics, output_dir)
    return metrics


def infer_sentences(cfg: DictConfig, checkpoint: Checkpoint) -> Transcript:
    """The decoded sentence of ``cfg.video`` (and its CER against ``ground_truth`` when given); with
    ``segment``, the video cut into utterance windows and written as subtitles too."""
    task, _ = restore_task(checkpoint)
    decoding = {**decoding_overrides(cfg), **fusion_settings(cfg, checkpoint)}
    clip = read_mouth(cfg, checkpoint)
    inputs, lengths = model_inputs(clip, checkpoint)
    with torch.no_grad():
        if cfg.get("segment"):
            result = Transcript(text=" ".join(s.text for s in subtitles(cfg, clip, inputs, task, decoding) if s.text))
        else:
            result = Transcript(text=task.transcribe(inputs, lengths, **decoding)[0])
    if cfg.get("ground_truth") is not None:
        result.cer = float(char_error_rate(result.text, task.tokenizer.normalise(str(cfg.ground_truth))))
    return write_transcript(cfg, clip, result)


def subtitles(cfg: DictConfig, clip: Clip, inputs: torch.Tensor, task: Any, decoding: dict[str, Any]) -> list[Subtitle]:
    """``cfg.segment``'s windows of the clip, each transcribed (one log line each), written as subtitles."""
    segmenter = hydra.utils.instantiate(cfg.segment)
    windows = segmenter(clip.video, clip.fps)
    log.info("%s: %d frames (%.1f s) cut into %d windows", cfg.video, clip.num_frames, clip.num_frames / clip.fps, len(windows))
    result = transcribe_windows(inputs, windows, clip.fps, lambda x, n: task.transcribe(x, n, **decoding))
    about = {"video": str(cfg.video), "checkpoint": str(cfg.ckpt), "fps": clip.fps, "frames": clip.num_frames,
             "segment": OmegaConf.to_container(cfg.segment, resolve=True), "decoding": described(decoding, cfg)}
    for path in write_subtitles(Path(cfg.paths.output_dir), result, about):
        log.info("subtitles written to %s", path)
    return result

