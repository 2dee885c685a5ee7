"""Long videos: pauses of the mouth cut a talk into its sentences, and infer.py segment=auto writes subtitles."""

import json
import logging
import re

import cv2
import numpy as np
import pytest
import torch

from lipreading.data.synthetic.mandarin import grammar_by_name
from lipreading.data.tokenizer import CharTokenizer
from lipreading.preprocessing import PreprocessConfig
from lipreading.preprocessing.segments import PauseSegmenter, Window
from lipreading.run.build import restore_task
from lipreading.run.checkpoint import read_checkpoint
from lipreading.run.infer import infer
from lipreading.run.mouth import model_inputs, mouth_clip
from lipreading.run.subtitles import srt_time
from lipreading.utils.errors import ConfigError
from tests.conftest import compose_config
from tests.helpers.face_video import write_video
from tests.helpers.sentence_checkpoints import write_sentence_model
from tests.helpers.talk import render_talk
from tests.helpers.teachers import write_teacher

SRT_CUE = re.compile(r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)\n(.+)\n")


def parse_srt(text: str) -> list[tuple[int, float, float, str]]:
    """SubRip cues as (number, start s, end s, text); every block must be a well-formed cue."""
    blocks = [b + "\n" for b in text.strip("\n").split("\n\n")] if text.strip() else []
    cues = []
    for block in blocks:
        match = SRT_CUE.fullmatch(block)
        assert match, f"not an SRT cue: {block!r}"
        n, h1, m1, s1, ms1, h2, m2, s2, ms2, line = match.groups()
        cues.append((int(n), int(h1) * 3600 + int(m1) * 60 + int(s1) + int(ms1) / 1000,
                     int(h2) * 3600 + int(m2) * 60 + int(s2) + int(ms2) / 1000, line))
    return cues


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pauses_cut_a_rendered_talk_into_its_sentences(seed):
    talk = render_talk(4, seed=seed)
    windows = PauseSegmenter()(talk.video, talk.fps)
    assert len(windows) == len(talk.sentences)
    for window, (first, last) in zip(windows, talk.spans):  # each window holds its sentence's speech, whole
        assert window.start / talk.fps <= first + 0.04 and window.end / talk.fps >= last - 0.04
    assert all(a.end <= b.start for a, b in zip(windows, windows[1:]))


def test_a_window_over_max_seconds_is_cut_at_its_stillest_frame_and_stillness_is_no_speech():
    talk = render_talk(2, gap=0.0, seed=3)  # about 3 s with the pause between the two inside
    windows = PauseSegmenter(min_pause=5.0, max_seconds=2.0)(talk.video, talk.fps)  # no pause counts
    assert len(windows) >= 2 and all(w.num_frames <= 2.0 * talk.fps for w in windows)
    assert all(a.end == b.start for a, b in zip(windows, windows[1:]))  # cut, nothing lost
    still = np.repeat(talk.video[:1], 50, axis=0)
    assert PauseSegmenter()(still, 25.0) == []
    with pytest.raises(ValueError, match="segment.threshold=1.5"):
        PauseSegmenter(threshold=1.5)


def test_srt_times():
    assert srt_time(0.0) == "00:00:00,000" and srt_time(3725.0456) == "01:02:05,046"


def test_infer_segment_auto_writes_subtitles_of_each_window(tmp_path, caplog):
    talk = render_talk(3, seed=0)
    video = write_video(tmp_path / "talk.mp4", np.stack([cv2.cvtColor(f, cv2.COLOR_GRAY2BGR) for f in talk.video]))
    units = CharTokenizer(grammar_by_name("tiny").characters())
    ckpt = write_sentence_model(tmp_path / "sentences.ckpt", units, seed=1)
    cfg = compose_config("infer", [f"video={video}", f"ckpt={ckpt}", "cropped=true", "segment=auto"], tmp_path)
    with caplog.at_level(logging.INFO, logger="lipreading.run.subtitles"):
        result = infer(cfg)
    out = tmp_path / "run"
    about = json.loads((out / "subtitles.json").read_text(encoding="utf-8"))
    windows = about["windows"]
    assert len(windows) == 3 and about["fps"] == 25.0 and about["segment"]["min_pause"] == 0.3
    assert len([r for r in caplog.records if r.getMessage().startswith("window ")]) == 3  # one line per window
    # The text of each window is the model's transcript of that window alone.
    checkpoint = read_checkpoint(ckpt)
    task, _ = restore_task(checkpoint)
    clip = mouth_clip(video, 48, True, PreprocessConfig())
    inputs, _ = model_inputs(clip, checkpoint)
    with torch.no_grad():
        for w in windows:
            assert w["text"] == task.transcribe(inputs[:, :, w["start_frame"]: w["end_frame"]],
                                                torch.tensor([w["end_frame"] - w["start_frame"]]))[0]
    assert any(w["text"] for w in windows)
    cues = parse_srt((out / "subtitles.srt").read_text(encoding="utf-8"))
    spoken = [w for w in windows if w["text"].strip()]
    assert [c[0] for c in cues] == list(range(1, len(spoken) + 1)) and [c[3] for c in cues] == [w["text"] for w in spoken]
    assert all(start < end for _, start, end, _ in cues) and all(a[2] <= b[1] for a, b in zip(cues, cues[1:]))
    assert all(abs(c[1] - w["start"]) < 1e-3 and abs(c[2] - w["end"]) < 1e-3 for c, w in zip(cues, spoken))
    assert result.text == " ".join(w["text"] for w in spoken)
    transcript = json.loads((out / "transcript.json").read_text(encoding="utf-8"))
    assert transcript["text"] == result.text and transcript["frames"] == len(talk.video)


def test_segment_is_for_sentence_checkpoints(tmp_path):
    ckpt = write_teacher(tmp_path / "w.ckpt", ["ABOUT", "BLACK"])
    cfg = compose_config("infer", [f"video={tmp_path / 'x.mp4'}", f"ckpt={ckpt}", "segment=auto"], tmp_path)
    with pytest.raises(ConfigError, match="w.ckpt is a word checkpoint"):
        infer(cfg)
    assert Window(3, 10).num_frames == 7
