"""The per-clip ``.txt`` transcripts of LRS2 and LRS3, and the cutting of long utterances at word boundaries.

Papers: T. Afouras, J. S. Chung, A. Senior, O. Vinyals, A. Zisserman, "Deep audio-visual speech
recognition", TPAMI 2018 (LRS2); T. Afouras, J. S. Chung, A. Zisserman, "LRS3-TED: a large-scale
dataset for visual speech recognition", arXiv 1809.00496, 2018. A transcript reads::

    Text:  SO WE'RE GOING TO TALK ABOUT
    Conf:  4
    Ref:   ...                              (LRS3 only)

    WORD START END ASDSCORE                 (pretrain clips of both; every LRS3 clip)
    SO 0.10 0.25 1.2
    WE'RE 0.25 0.41 3.8

Times are seconds from the clip's start. Long pretrain utterances are cut into pieces of at most
``max_seconds`` between words, as Auto-AVSR's ``preparation/utils.py:split_file`` does (16 s there).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from lipreading.data.clip import Clip
from lipreading.preprocessing.config import PreprocessConfig
from lipreading.preprocessing.items import LayoutError, VideoItem

WORD_TABLE_HEADER = "WORD START END"


@dataclass(frozen=True)
class TimedWord:
    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Transcript:
    """A clip's text (the ``Text:`` line) and, when the file has them, its words' times."""

    text: str
    words: tuple[TimedWord, ...] = field(default_factory=tuple)


def read_transcript(txt: Path) -> Transcript:
    """The transcript of an LRS2/LRS3 ``.txt`` file; raises :class:`LayoutError` naming the file and line."""
    try:
        lines = txt.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError as e:
        raise LayoutError(f"{txt}: transcript missing (every LRS2/LRS3 .mp4 has a .txt beside it)") from e
    text = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("Text:")), None)
    if not text:
        raise LayoutError(f"{txt}: no 'Text:' line with a transcript (expected 'Text:  THE WORDS')")
    words = []
    table = next((i for i, line in enumerate(lines) if line.startswith(WORD_TABLE_HEADER)), None)
    for number, line in enumerate(lines[table + 1 :] if table is not None else [], start=(table or 0) + 2):
        fields = line.split()
        if not fields:
            continue
        try:
            words.append(TimedWord(fields[0], float(fields[1]), float(fields[2])))
        except (IndexError, ValueError) as e:
            raise LayoutError(f"{txt}:{number}: expected 'WORD START END ASDSCORE', got {line!r}") from e
    return Transcript(text, tuple(words))


@dataclass(frozen=True)
class Segment:
    """A stretch of a clip, ``start`` to ``end`` seconds, and the words said in it."""

    text: str
    start: float
    end: float


def cut_at_words(words: tuple[TimedWord, ...], max_seconds: float) -> list[Segment]:
    """Consecutive runs of words, each spanning at most ``max_seconds`` (a longer single word alone).

    A run starts at its first word's start and ends at its last word's end, as in Auto-AVSR's
    ``split_file``; the silence between two runs belongs to neither.
    """
    segments: list[Segment] = []
    run: list[TimedWord] = []
    for word in words:
        if run and word.end - run[0].start > max_seconds:
            segments.append(Segment(" ".join(w.word for w in run), run[0].start, run[-1].end))
            run = []
        run.append(word)
    if run:
        segments.append(Segment(" ".join(w.word for w in run), run[0].start, run[-1].end))
    return segments


def trim_clip(clip: Clip, start: float, end: float) -> Clip:
    """The frames of ``clip`` from ``start`` to ``end`` seconds (``int(t * fps)``, as Auto-AVSR), with their landmarks and audio."""
    first, last = int(start * clip.fps), max(int(end * clip.fps), int(start * clip.fps) + 1)
    trimmed = replace(clip, video=clip.video[first:last])
    if clip.landmarks is not None:
        trimmed = replace(trimmed, landmarks=clip.landmarks[first:last])
    if clip.audio is not None and clip.sample_rate:
        per_frame = clip.sample_rate / clip.fps
        trimmed = replace(trimmed, audio=clip.audio[int(round(first * per_frame)) : int(round(last * per_frame))])
    return trimmed


@dataclass(frozen=True)
class SegmentItem:
    """A stretch of a raw video: the whole video is cropped, then the stretch cut out (the pipeline's ``Item``).

    NOTE: each stretch of a video tracks the whole video's face again: simple, and only pretrain
    utterances longer than ``max_seconds`` (a minority) have more than one stretch.
    """

    video: Path
    output: str
    label: str
    split: str
    start: float
    end: float
    speaker: str = ""

    @property
    def source(self) -> Path:
        return self.video

    def to_clip(self, config: PreprocessConfig) -> tuple[Clip, str]:
        clip, remark = VideoItem(self.video, self.output, self.label, self.split, self.speaker).to_clip(config)
        trimmed = trim_clip(clip, self.start, self.end)
        if trimmed.num_frames == 0:
            raise LayoutError(f"{self.video}: {self.start:.2f}-{self.end:.2f} s lies beyond its {clip.duration:.2f} s")
        return trimmed, remark


def utterance_items(
    video: Path, output_stem: str, split: str, speaker: str, max_seconds: float | None
) -> list[VideoItem | SegmentItem]:
    """The work items of one clip: the whole clip, or (``max_seconds`` set and the words spanning longer)
    its stretches cut at word boundaries, ``{output_stem}_00.npz``, ``_01`` ..."""
    transcript = read_transcript(video.with_suffix(".txt"))
    words = transcript.words
    if max_seconds is None or not words or words[-1].end - words[0].start <= max_seconds:
        return [VideoItem(video=video, output=f"{output_stem}.npz", label=transcript.text, split=split, speaker=speaker)]
    return [
        SegmentItem(video, f"{output_stem}_{i:02d}.npz", s.text, split, s.start, s.end, speaker)
        for i, s in enumerate(cut_at_words(words, max_seconds))
    ]

