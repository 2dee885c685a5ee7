"""What preprocessing one video found: the per-video report and its preview image."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

PREVIEW_FRAMES = 4  # source frames drawn in the preview
PREVIEW_WIDTH = 480  # width of each of them in the preview


@dataclass
class PersonSummary:
    """One person seen in the video."""

    number: int
    seen: int  # frames in which their face was found
    face_width: float  # median width of the face in source pixels
    mouth_motion: float  # the speaker rule's score


@dataclass
class PreviewFrame:
    """A source frame kept for the preview, with what to draw on it (source pixels)."""

    index: int
    image: np.ndarray  # BGR, shrunk by ``scale``
    scale: float
    boxes: dict[int, np.ndarray] = field(default_factory=dict)  # person number -> x0, y0, x1, y1
    lips: np.ndarray | None = None  # (40, 2) of the chosen person
    crop: np.ndarray | None = None  # (4, 2) corners of the mouth crop


@dataclass
class VideoReport:
    """Frames, frame rates, detection rate, face size, the people seen and whose mouth was cropped."""

    path: str
    width: int
    height: int
    source_fps: float
    fps: float
    num_frames: int  # output frames (at ``fps``)
    backend: str
    rule: str  # the face= choice
    people: list[PersonSummary] = field(default_factory=list)
    chosen: int = -1  # number of the chosen person
    gaps: list[tuple[int, int]] = field(default_factory=list)  # long losses (first, last frame)
    cuts: list[int] = field(default_factory=list)  # frames where a new scene starts
    detection_frames: int = 0  # frames on which the face detector ran
    # Where the crop is: the chosen mouth's centre (T, 2) in source pixels (interpolated where lost).
    mouth_centres: np.ndarray | None = None
    seconds: float = 0.0
    preview: list[PreviewFrame] = field(default_factory=list)

    @property
    def resampled(self) -> bool:
        return abs(self.source_fps - self.fps) > 1e-3

    @property
    def detection_rate(self) -> float:
        """Fraction of the frames in which the chosen face was found."""
        person = self.people[self.chosen] if self.chosen >= 0 else None
        return person.seen / self.num_frames if person and self.num_frames else 0.0

    def gap_text(self) -> str:
        """The long losses of the chosen face as a sentence ('' if none)."""
        if not self.gaps:
            return ""
        spans = ", ".join(f"{a}-{b} ({(b - a + 1) / self.fps:.1f} s)" for a, b in self.gaps)
        return (
            f"face {self.chosen} lost in frames {spans}: found in {self.detection_rate:.0%} of "
            "the frames; the lost frames are interpolated from the nearest ones"
        )

    def remark(self) -> str:
        """One line for a dataset run's summary: what a user should know ('' if nothing)."""
        notes = []
        if self.resampled:
            notes.append(f"resampled from {self.source_fps:g} to {self.fps:g} fps")
        if len(self.people) > 1:
            notes.append(f"{len(self.people)} people, person {self.chosen} chosen ({self.rule})")
        if self.gaps:
            notes.append(self.gap_text())
        return f"{self.path}: {'; '.join(notes)}" if notes else ""

    def text(self) -> str:
        """The report as lines for the terminal."""
        lines = [
            f"{self.path}: {self.width}x{self.height}, {self.num_frames} frames at {self.fps:g} fps"
            + (f" (resampled from {self.source_fps:g} fps)" if self.resampled else "")
            + f", {self.seconds:.1f} s ({self.num_frames / max(self.seconds, 1e-9):.0f} frames/s, "
            f"backend {self.backend}, detector on {self.detection_frames} frames)",
        ]
        for person in self.people:
            mark = "  <- chosen" if person.number == self.chosen else ""
            lines.append(
                f"  person {person.number}: seen in {person.seen}/{self.num_frames} frames, "
                f"face {person.face_width:.0f} px wide, mouth motion {person.mouth_motion:.4f}{mark}"
            )
        rule = "mouth moves most" if self.rule == "speaker" else self.rule
        lines.append(
            f"  chose person {self.chosen} (face={self.rule}: {rule}), detection rate "
            f"{self.detection_rate:.0%}"
            + (f", scene cuts at frames {self.cuts}" if self.cuts else "")
        )
        if self.gaps:
            lines.append(f"  warning: {self.gap_text()}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The report as JSON-able values (no images)."""
        return {
            "video": self.path, "width": self.width, "height": self.height,
            "source_fps": self.source_fps, "fps": self.fps, "frames": self.num_frames,
            "backend": self.backend, "face": self.rule, "chosen": self.chosen,
            "detection_rate": self.detection_rate, "gaps": self.gaps, "cuts": self.cuts,
            "people": [vars(p) for p in self.people],
        }

    def write_preview(self, path: str | os.PathLike) -> Path:
        """Draw the kept source frames side by side: every face's box (the chosen one green, with
        its lip landmarks red and the mouth crop yellow), and write them as one image."""
        panels = [draw_preview(frame, self.chosen) for frame in self.preview]
        height = max(p.shape[0] for p in panels)
        panels = [np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0))) for p in panels]
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        ok, encoded = cv2.imencode(path.suffix or ".jpg", np.hstack(panels))
        if not ok:
            raise ValueError(f"{path}: cannot write an image with this suffix; use .jpg or .png")
        encoded.tofile(path)  # tofile, not imwrite: non-ASCII paths work on every platform
        return path


def draw_preview(frame: PreviewFrame, chosen: int) -> np.ndarray:
    """One panel of the preview."""
    image = frame.image.copy()
    for number, box in frame.boxes.items():
        colour = (0, 200, 0) if number == chosen else (160, 160, 160)
        x0, y0, x1, y1 = (box * frame.scale).round().astype(int)
        cv2.rectangle(image, (x0, y0), (x1, y1), colour, 2)
        cv2.putText(image, str(number), (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1)
    if frame.crop is not None:
        corners = (frame.crop * frame.scale).round().astype(np.int32)
        cv2.polylines(image, [corners], True, (0, 220, 220), 1)
    if frame.lips is not None:
        for x, y in (frame.lips * frame.scale).round().astype(int):
            cv2.circle(image, (x, y), 1, (0, 0, 255), -1)
    cv2.putText(image, f"frame {frame.index}", (6, image.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                (255, 255, 255), 1)
    return image
