"""From face tracks to people, and the rule that chooses whose mouth is cropped.

A track ends when its face is lost or the scene cuts; a later track continues a person when it does
not overlap that person in time and its face looks like theirs (the grey thumbnails of the aligned
face crops correlate by at least :data:`SAME_FACE`, 0.6); otherwise it is a new person. People are
numbered from 0, left to right by the mean position of their face.

The rule (``face=``), each over the whole clip so that a person seen in few frames counts for less:
- ``speaker`` (default): the person whose mouth moves most: the sum over consecutive frames in
  which they are seen of the change of the mouth opening (inner-lip gap over mouth width), divided
  by the clip's frames;
- ``largest``: the largest face width, averaged over the clip's frames (0 where not seen);
- ``centre``: the face nearest the frame's middle, the distance (in frame diagonals) averaged over
  the clip's frames (1 where not seen);
- ``N``: person number N.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lipreading.preprocessing.landmarks import NUM_LANDMARKS
from lipreading.preprocessing.track import Track, landmarks_box
from lipreading.utils.errors import UserError

SAME_FACE = 0.6  # correlation of aligned face thumbnails above which two tracks are one person
# (measured: the astronaut before and after a cut to a 1.5x closer shot 0.72; she and Grace Hopper 0.2-0.3)
UPPER_LIP, LOWER_LIP = 13, 14  # inner lip midpoints of the face mesh
MOUTH_RIGHT, MOUTH_LEFT = 61, 291  # mouth corners


class FaceChoiceError(UserError):
    """A ``face=`` choice the video cannot satisfy (e.g. a person number it does not have)."""


@dataclass
class Person:
    """One person: the tracks that follow their face, in time order, and their scores."""

    tracks: list[Track]
    number: int = -1
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def appearance(self) -> np.ndarray:
        total = sum(t.appearance_sum for t in self.tracks)
        return total / max(float(np.linalg.norm(total)), 1e-6)

    @property
    def end(self) -> int:
        return self.tracks[-1].end

    def landmarks(self, num_frames: int) -> np.ndarray:
        """Landmarks (T, 468, 2) over the clip; NaN in frames where this person is not seen."""
        points = np.full((num_frames, NUM_LANDMARKS, 2), np.nan, np.float32)
        for track in self.tracks:
            points[track.start : track.end] = np.stack(track.landmarks)
        return points


def link_tracks(tracks: list[Track]) -> list[Person]:
    """Group tracks into people (see the module docstring), numbered left to right."""
    people: list[Person] = []
    for track in sorted(tracks, key=lambda k: k.start):
        earlier = [p for p in people if p.end <= track.start]
        similarity = [float(p.appearance @ track.appearance) for p in earlier]
        if similarity and max(similarity) >= SAME_FACE:
            earlier[int(np.argmax(similarity))].tracks.append(track)
        else:
            people.append(Person([track]))
    centres = [np.mean([np.stack(t.landmarks)[:, :, 0].mean() for t in p.tracks]) for p in people]
    people = [people[i] for i in np.argsort(centres, kind="stable")]
    for number, person in enumerate(people):
        person.number = number
    return people


def score_people(people: list[Person], num_frames: int, frame_size: tuple[int, int]) -> None:
    """Fill each person's ``scores``: seen (frames), face_width (px, median), and the rules' scores."""
    diagonal = float(np.hypot(*frame_size))
    middle = np.array(frame_size, np.float32) / 2
    for person in people:
        points = person.landmarks(num_frames)
        seen = ~np.isnan(points[:, 0, 0])
        widths = np.array([np.ptp(p[:, 0]) for p in points[seen]])
        centres = np.array([landmarks_box(p).reshape(2, 2).mean(axis=0) for p in points[seen]])
        opening = np.linalg.norm(points[:, UPPER_LIP] - points[:, LOWER_LIP], axis=1) / np.maximum(
            np.linalg.norm(points[:, MOUTH_RIGHT] - points[:, MOUTH_LEFT], axis=1), 1e-6
        )  # (T,), NaN where not seen
        change = np.abs(np.diff(opening))
        person.scores = {
            "seen": float(seen.sum()),
            "face_width": float(np.median(widths)),
            "speaker": float(np.nansum(change) / num_frames),
            "largest": float(widths.sum() / num_frames),
            "centre": float(
                (np.linalg.norm(centres - middle, axis=1).sum() / diagonal + (~seen).sum())
                / num_frames
            ),
        }


def choose_person(people: list[Person], rule: str, source: str) -> Person:
    """The person ``rule`` picks (see the module docstring); :class:`FaceChoiceError` if none."""
    if str(rule).isdigit():
        number = int(rule)
        if number >= len(people):
            raise FaceChoiceError(
                f"{source}: face={number}, but {len(people)} {'person is' if len(people) == 1 else 'people are'} "
                f"seen (numbered 0-{len(people) - 1} from left to right); choose one of them"
            )
        return people[number]
    if rule == "centre":
        return min(people, key=lambda p: p.scores["centre"])
    return max(people, key=lambda p: p.scores[rule])
