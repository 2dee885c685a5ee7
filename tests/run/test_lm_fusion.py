"""Shallow fusion through eval/infer settings: decoding.lm.ckpt / decoding.lm.weight, and the checks on the LM."""

import json

import cv2
import numpy as np
import pytest

from lipreading.data.synthetic.mandarin import grammar_by_name
from lipreading.data.tokenizer import CharTokenizer
from lipreading.run.evaluate import evaluate
from lipreading.run.infer import infer
from lipreading.utils.errors import CheckpointError, ConfigError
from tests.conftest import compose_config
from tests.helpers.face_video import write_video
from tests.helpers.sentence_checkpoints import write_language_model, write_sentence_model
from tests.helpers.talk import render_talk

UNITS = CharTokenizer(grammar_by_name("tiny").characters())


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("fusion")
    talk = render_talk(1, seed=4)
    video = write_video(root / "mouth.mp4", np.stack([cv2.cvtColor(f, cv2.COLOR_GRAY2BGR) for f in talk.video]))
    model = write_sentence_model(root / "sentences.ckpt", UNITS, seed=2)
    lm = write_language_model(root / "lm.ckpt", UNITS, seed=3)
    return video, model, lm


def _read(tmp_path, video, model, *overrides):
    cfg = compose_config("infer", [f"video={video}", f"ckpt={model}", "cropped=true", *overrides], tmp_path)
    return infer(cfg).text


def test_fusion_at_weight_zero_reads_as_without_and_the_lm_is_checked(checkpoints, tmp_path):
    video, model, lm = checkpoints
    beam = ["decoding.method=beam", "decoding.beam_size=3", "decoding.max_length=6"]
    assert _read(tmp_path, video, model, *beam) == _read(tmp_path, video, model, *beam, f"decoding.lm.ckpt={lm}",
                                                         "decoding.lm.weight=0")
    assert _read(tmp_path, video, model, *beam)  # the model reads text, so the equality above says something
    _read(tmp_path, video, model, *beam, f"decoding.lm.ckpt={lm}", "decoding.lm.weight=0.5")
    with pytest.raises(ConfigError, match="add decoding.method=beam"):
        _read(tmp_path, video, model, f"decoding.lm.ckpt={lm}")
    with pytest.raises(CheckpointError, match="sentences.ckpt is a sentence checkpoint; give a language model"):
        _read(tmp_path, video, model, *beam, f"decoding.lm.ckpt={model}")
    with pytest.raises(ConfigError, match="lm.ckpt is a language model .* decoding.lm.ckpt="):
        _read(tmp_path, video, lm)


def test_an_lm_of_other_units_is_refused_naming_the_difference(checkpoints, tmp_path):
    video, model, _ = checkpoints
    other = CharTokenizer([*UNITS.tokens[4:-1], "龙"])
    lm = write_language_model(tmp_path / "other_lm.ckpt", other)
    with pytest.raises(CheckpointError, match=r"other_lm.ckpt was trained on other units than .*sentences.ckpt "
                                              r"\(\d+ against \d+ tokens, the first difference at id \d+: '龙' against"):
        _read(tmp_path, video, model, "decoding.method=beam", f"decoding.lm.ckpt={lm}")


def test_eval_fuses_the_lm_and_records_it(checkpoints, tmp_path):
    _, model, lm = checkpoints
    cfg = compose_config("eval", [f"ckpt={model}", "decoding.method=beam", "decoding.beam_size=2", "decoding.max_length=4",
                                  f"decoding.lm.ckpt={lm}", "decoding.lm.weight=0.3", "data.grammar=tiny",
                                  "data.clips={train:2,val:2,test:3}", "data.generation_workers=1",
                                  "+trainer.enable_progress_bar=false"], tmp_path)
    metrics = evaluate(cfg)
    assert metrics["test/num_samples"] == 3.0
    recorded = json.loads((tmp_path / "run" / "metrics.json").read_text(encoding="utf-8"))["decoding"]
    assert recorded["lm"] == str(lm) and recorded["lm_weight"] == 0.3 and recorded["method"] == "beam"
