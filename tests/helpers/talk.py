"""A long synthetic "talk": one speaker saying several synthetic Mandarin sentences with pauses between
them, rendered by the project's mouth renderer (for the long-video / subtitle tests)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lipreading.data.synthetic.mandarin import grammar_by_name, sample_timeline
from lipreading.data.synthetic.mouth import Scene, Speaker, render_timeline


@dataclass
class Talk:
    video: np.ndarray  # (T, H, W) uint8
    fps: float
    sentences: list[str]
    spans: list[tuple[float, float]]  # seconds: first to last phoneme of each sentence


def render_talk(count: int = 3, gap: float = 0.4, grammar: str = "tiny", seed: int = 0, frame_size: int = 48,
                fps: float = 25.0) -> Talk:
    """``count`` sentences of ``grammar`` by one speaker in one scene, ``gap`` seconds of silence added between
    them (beside each sentence's own leading and trailing silence)."""
    rng = np.random.default_rng(seed)
    rules = grammar_by_name(grammar)
    sentences = [str(s) for s in rng.choice(rules.sentences(), size=count, replace=False)]
    timeline, spans, offset = [], [], 0.0
    for sentence in sentences:
        own, duration = sample_timeline(rules, sentence, rng)
        timeline += [(phoneme, start + offset, end + offset) for phoneme, start, end in own]
        spans.append((own[0][1] + offset, own[-1][2] + offset))
        offset += duration + gap
    num_frames = int(np.ceil((offset - gap) * fps))
    video = render_timeline(timeline, rng, num_frames, fps, frame_size, speaker=Speaker.sample(rng), scene=Scene.sample(rng))
    return Talk(video, fps, sentences, spans)
