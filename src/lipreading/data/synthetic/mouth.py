"""A parametric 2-D mouth driven by a phoneme timeline, drawn with OpenCV.

Pipeline: phoneme timeline ``[(phoneme, start_s, end_s), ...]`` -> viseme classes (Lee & Yook,
see :mod:`.visemes`) -> a trajectory of :data:`MOUTH_PARAMETERS` per video frame -> grayscale
frames of a speaker's mouth under a camera/lighting :class:`Scene`.

The trajectory follows the dominance-function coarticulation model of Cohen & Massaro
("Modeling coarticulation in synthetic visual speech", 1993): each phoneme pulls the mouth
towards its viseme's target with a weight that peaks over the phoneme and decays
exponentially around it, so short consonants undershoot between vowels and lip gestures
(closure, rounding) spread onto their neighbours. The weighted average is computed on a fine
time grid and averaged over each frame's exposure, giving smooth trajectories at any frame rate.

:func:`render_timeline` does not care how the timeline was made (random durations for the
word task, or a speech synthesiser's phoneme timings for audio-visual data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .visemes import SILENCE, VISEME_CLASSES, viseme_of

Timeline = Sequence[tuple[str, float, float]]
"""A phoneme timeline: ``(ARPAbet phoneme or 'SIL', start_s, end_s)`` in clip time."""

MOUTH_PARAMETERS = (
    "opening",  # 0..1: vertical gap between the lips (jaw drop)
    "width",  # -1..1: lip spreading (+) or narrowing (-)
    "rounding",  # 0..1: a rounder, narrower opening
    "protrusion",  # -1..1: pouted, thicker lips (+) or pressed, thin lips (-)
    "upper_raise",  # 0..1: upper lip lifted off the teeth
    "lower_tuck",  # 0..1: lower lip drawn up under the upper teeth (labiodentals)
    "teeth",  # 0..1: how much of the teeth shows in the opening
    "tongue",  # 0..1: how much of the tongue shows in the opening
)

# One row per viseme class: target of each mouth parameter (in MOUTH_PARAMETERS order), then
# the class's dominance (how strongly it holds its target against its neighbours). Lip
# gestures (P closure, F tuck, W rounding) dominate; lingual consonants (T, K) borrow most of
# their lip shape from the surrounding vowels.
VISEME_TARGETS: dict[str, tuple[float, ...]] = {
    #        open  width  round  protr  raise  tuck  teeth  tongue  dominance
    SILENCE: (0.03, 0.00, 0.10, 0.00, 0.00, 0.00, 0.00, 0.00, 0.6),
    "P": (0.00, 0.00, 0.00, -0.80, 0.00, 0.00, 0.00, 0.00, 3.0),
    "T": (0.18, 0.35, 0.00, 0.00, 0.10, 0.00, 0.90, 0.50, 0.5),
    "K": (0.30, 0.15, 0.00, 0.00, 0.00, 0.00, 0.40, 0.20, 0.35),
    "CH": (0.22, -0.45, 0.55, 0.90, 0.30, 0.00, 0.80, 0.00, 1.2),
    "F": (0.12, 0.20, 0.00, -0.30, 0.50, 1.00, 0.80, 0.00, 2.0),
    "W": (0.12, -0.80, 0.90, 0.80, 0.00, 0.00, 0.00, 0.00, 1.5),
    "IY": (0.25, 0.90, 0.00, -0.20, 0.10, 0.00, 0.70, 0.10, 1.0),
    "EY": (0.50, 0.60, 0.00, 0.00, 0.05, 0.00, 0.50, 0.20, 1.0),
    "AA": (0.85, 0.20, 0.10, 0.00, 0.00, 0.00, 0.30, 0.30, 1.0),
    "AH": (0.55, 0.10, 0.10, 0.00, 0.00, 0.00, 0.20, 0.20, 1.0),
    "AO": (0.60, -0.50, 0.70, 0.50, 0.00, 0.00, 0.10, 0.10, 1.0),
    "UH": (0.25, -0.70, 0.90, 0.90, 0.00, 0.00, 0.00, 0.00, 1.0),
    "ER": (0.30, -0.30, 0.50, 0.60, 0.10, 0.00, 0.30, 0.10, 1.0),
}

COARTICULATION_DECAY_S = 0.03
"""Time constant of the dominance functions' exponential decay outside a phoneme's core."""
CORE_FRACTION = 0.5
"""Central fraction of a phoneme over which its dominance is flat."""
SUBSAMPLES_PER_FRAME = 8
"""Fine time steps per frame over which the trajectory is averaged (the frame's exposure)."""
_BACKGROUND_DOMINANCE = 0.02  # silence wherever no phoneme of the timeline is near


def viseme_table() -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Decode :data:`VISEME_TARGETS`: (class names, targets (V, P) float32, dominance (V,) float32)."""
    missing = set(VISEME_CLASSES) ^ set(VISEME_TARGETS)
    if missing:
        raise ValueError(f"VISEME_TARGETS and VISEME_CLASSES disagree on {sorted(missing)}")
    names = tuple(VISEME_TARGETS)
    rows = np.array([VISEME_TARGETS[name] for name in names], dtype=np.float32)
    if rows.shape[1] != len(MOUTH_PARAMETERS) + 1:
        raise ValueError(f"each VISEME_TARGETS row needs {len(MOUTH_PARAMETERS)} targets + dominance")
    return names, rows[:, :-1], rows[:, -1]


_VISEME_NAMES, _TARGETS, _DOMINANCE = viseme_table()
_VISEME_INDEX = {name: i for i, name in enumerate(_VISEME_NAMES)}
NEUTRAL_POSE = _TARGETS[_VISEME_INDEX[SILENCE]]


def mouth_trajectory(timeline: Timeline, num_frames: int, fps: float) -> np.ndarray:
    """Mouth parameters of frames ``0 .. num_frames-1`` (frame ``t`` exposes ``[t/fps, (t+1)/fps)``).

    Returns float32 ``(num_frames, len(MOUTH_PARAMETERS))``. Phonemes outside the frames'
    time span still shape the first and last frames through coarticulation.
    """
    if num_frames < 1 or fps <= 0:
        raise ValueError(f"need num_frames >= 1 and fps > 0, got num_frames={num_frames}, fps={fps}")
    classes = np.array([_VISEME_INDEX[viseme_of(name)] for name, _, _ in timeline], dtype=np.int64)
    spans = np.array([(start, end) for _, start, end in timeline], dtype=np.float64).reshape(-1, 2)
    if np.any(spans[:, 1] < spans[:, 0]):
        bad = int(np.argmax(spans[:, 1] < spans[:, 0]))
        raise ValueError(f"timeline entry {bad} {tuple(timeline[bad])} ends before it starts")
    # (S,) fine time grid over the frames' exposures
    times = (np.arange(num_frames * SUBSAMPLES_PER_FRAME) + 0.5) / (fps * SUBSAMPLES_PER_FRAME)
    centres = spans.mean(axis=1)
    core_half = CORE_FRACTION * (spans[:, 1] - spans[:, 0]) / 2
    # (S, N): dominance of each phoneme at each time
    distance = np.maximum(np.abs(times[:, None] - centres[None, :]) - core_half[None, :], 0.0)
    weights = _DOMINANCE[classes][None, :] * np.exp(-distance / COARTICULATION_DECAY_S)
    silence = np.full((len(times), 1), _BACKGROUND_DOMINANCE)
    weights = np.concatenate([weights, silence], axis=1)
    targets = np.concatenate([_TARGETS[classes], NEUTRAL_POSE[None, :]], axis=0)  # (N+1, P)
    fine = (weights @ targets) / weights.sum(axis=1, keepdims=True)  # (S, P)
    # (S, P) -> (T, SUBSAMPLES_PER_FRAME, P) -> (T, P): average over each frame's exposure
    return fine.reshape(num_frames, SUBSAMPLES_PER_FRAME, -1).mean(axis=1).astype(np.float32)


def _uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(rng.uniform(low, high))


@dataclass(frozen=True)
class Speaker:
    """What makes one talker's mouth look and move their own way (gray levels 0..255)."""

    mouth_size: float  # mouth half-width as a fraction of the frame
    upper_lip: float  # lip thicknesses, in mouth half-widths
    lower_lip: float
    cupid_bow: float  # depth of the dip in the upper lip's outline, relative to its thickness
    skin: float
    lip: float
    interior: float
    teeth: float
    tongue: float
    articulation: float  # scales every movement away from the neutral pose
    jaw: float  # scales the opening

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Speaker:
        """A random speaker; every attribute is drawn independently of what is said."""
        skin = _uniform(rng, 90, 200)
        interior = _uniform(rng, 15, 45)
        return cls(
            mouth_size=_uniform(rng, 0.26, 0.34),
            upper_lip=_uniform(rng, 0.28, 0.38),
            lower_lip=_uniform(rng, 0.3, 0.42),
            cupid_bow=_uniform(rng, 0.0, 0.35),
            skin=skin,
            lip=skin - _uniform(rng, 20, 60),
            interior=interior,
            teeth=min(255.0, skin + _uniform(rng, 10, 60)),
            tongue=interior + _uniform(rng, 40, 80),
            articulation=_uniform(rng, 0.8, 1.15),
            jaw=_uniform(rng, 0.8, 1.2),
        )


@dataclass(frozen=True)
class Scene:
    """Camera, head pose and lighting of one clip (lengths as fractions of the frame)."""

    angle_deg: float  # in-plane head rotation
    offset_x: float  # mouth centre's offset from the frame centre
    offset_y: float
    scale: float
    jitter: float  # per-frame std of the crop's position (fraction of frame; x0.5 for scale)
    jitter_angle_deg: float
    gain: float  # overall brightness
    gradient_x: float  # relative brightness change across the frame
    gradient_y: float
    flicker: float  # per-frame std of the brightness, relative
    blur: float  # Gaussian blur sigma, fraction of the frame
    noise: float  # sensor noise std, gray levels

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Scene:
        """A random scene; every attribute is drawn independently of what is said."""
        return cls(
            angle_deg=_uniform(rng, -8, 8),
            offset_x=_uniform(rng, -0.05, 0.05),
            offset_y=_uniform(rng, -0.05, 0.05),
            scale=_uniform(rng, 0.92, 1.08),
            jitter=_uniform(rng, 0.0, 0.008),
            jitter_angle_deg=_uniform(rng, 0.0, 1.0),
            gain=_uniform(rng, 0.75, 1.2),
            gradient_x=_uniform(rng, -0.3, 0.3),
            gradient_y=_uniform(rng, -0.3, 0.3),
            flicker=_uniform(rng, 0.0, 0.02),
            blur=_uniform(rng, 0.0, 0.012),
            noise=_uniform(rng, 1.0, 6.0),
        )


_CONTOUR_POINTS = 15  # points across the mouth per lip contour
_SHIFT = 4  # sub-pixel bits of OpenCV's drawing coordinates
_U = np.linspace(-1.0, 1.0, _CONTOUR_POINTS)  # position across the mouth, corner to corner


def mouth_contours(pose: np.ndarray, speaker: Speaker) -> dict[str, np.ndarray]:
    """Lip contours of ``T`` poses ``(T, P)``, in mouth units (half-width ~1, y downwards).

    Returns ``x`` (T, K) and, each (T, K) over the same x: ``upper_outer``, ``upper_inner``,
    ``lower_inner``, ``lower_outer``, ``teeth_upper`` (lower edge of the upper teeth),
    ``teeth_lower`` (upper edge of the lower teeth) and ``tongue`` (top of the tongue).
    """
    pose = NEUTRAL_POSE + (pose - NEUTRAL_POSE) * speaker.articulation
    opening, width, rounding, protrusion, raise_, tuck, teeth, tongue = (
        np.clip(pose[:, i : i + 1], lo, hi)
        for i, (lo, hi) in enumerate(
            [(0, 1), (-1, 1), (0, 1), (-1, 1), (0, 1), (0, 1), (0, 1), (0, 1)]
        )
    )
    u = _U[None, :]
    half_width = 1.0 + 0.2 * width - 0.25 * rounding
    # opening profile: rounder lips give an elliptic opening, spread lips a flatter one
    profile = (1.0 - u**2) ** (0.3 + 0.25 * rounding)
    gap = 1.0 * speaker.jaw * opening
    corner_lift = -0.06 * width * u**2  # spread lips lift the corners
    upper_inner = corner_lift - (0.35 * gap + 0.12 * raise_) * profile
    lower_inner = corner_lift + (0.65 * gap - 0.5 * tuck * gap) * profile
    taper = 0.35 + 0.65 * (1.0 - u**2) ** 0.7
    fullness = 1.0 + 0.35 * protrusion + 0.2 * rounding
    bow = speaker.cupid_bow * np.exp(-((u / 0.18) ** 2))
    upper_outer = upper_inner - speaker.upper_lip * fullness * (taper - 0.4 * bow)
    lower_outer = lower_inner + speaker.lower_lip * fullness * (1.0 - 0.45 * tuck) * taper
    # teeth show as bands of the opening: the upper teeth's edge, the lower teeth's edge
    gap_profile = lower_inner - upper_inner
    teeth_upper = upper_inner + teeth * np.minimum(0.5 * gap_profile, 0.2)
    teeth_lower = lower_inner - 0.2 * teeth * (lower_inner - teeth_upper)
    tongue_top = np.maximum(
        lower_inner - 0.3 * tongue * np.clip(1.0 - (u / 0.6) ** 2, 0, 1), teeth_lower
    )
    return {
        "x": half_width * u,
        "upper_outer": upper_outer,
        "upper_inner": upper_inner,
        "lower_inner": lower_inner,
        "lower_outer": lower_outer,
        "teeth_upper": teeth_upper,
        "teeth_lower": teeth_lower,
        "tongue": tongue_top,
    }


def _to_pixels(
    x: np.ndarray, y: np.ndarray, centre: np.ndarray, scale: np.ndarray, angle: np.ndarray
) -> np.ndarray:
    """Mouth units (T, K) -> OpenCV fixed-point pixel coordinates (T, K, 2) int32."""
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    px = centre[:, 0:1] + scale[:, None] * (cos * x - sin * y)
    py = centre[:, 1:2] + scale[:, None] * (sin * x + cos * y)
    return np.rint(np.stack([px, py], axis=-1) * (1 << _SHIFT)).astype(np.int32)


def _band(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """Closed polygon (T, 2K, 2) between two contours (T, K, 2): along ``top``, back along ``bottom``."""
    return np.concatenate([top, bottom[:, ::-1]], axis=1)


def _sensor_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Zero-mean, unit-std float32 noise: the sum of two uniform bytes (triangular)."""
    # NOTE: not Gaussian: numpy's standard_normal is ~8x slower and was half the render time.
    size = int(np.prod(shape))
    pair = np.frombuffer(rng.bytes(2 * size), dtype=np.int8).reshape(2, size)
    noise = pair[0].astype(np.float32)
    noise += pair[1]
    noise += 1.0  # int8 bytes average -0.5 each
    return (noise * np.float32(1.0 / 104.5)).reshape(shape)


def render_mouth(
    trajectory: np.ndarray,
    speaker: Speaker,
    scene: Scene,
    frame_size: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw a mouth trajectory ``(T, P)`` as grayscale frames, uint8 ``(T, frame_size, frame_size)``."""
    num_frames = len(trajectory)
    size = float(frame_size)
    contours = mouth_contours(trajectory, speaker)

    # per-frame head pose: the clip's pose plus small independent jitter
    centre = size * (
        np.array([0.5 + scene.offset_x, 0.5 + scene.offset_y])
        + rng.normal(0.0, scene.jitter, (num_frames, 2))
    )
    scale = size * speaker.mouth_size * scene.scale * (
        1.0 + rng.normal(0.0, 0.5 * scene.jitter, num_frames)
    )
    angle = np.deg2rad(scene.angle_deg + rng.normal(0.0, scene.jitter_angle_deg, num_frames))
    x = contours["x"]
    corner_x = np.stack([x[:, 0] - 0.06, x[:, -1] + 0.06], axis=1)  # lips close beyond the opening
    corner_y = contours["upper_inner"][:, [0, -1]]
    pix = {name: _to_pixels(x, y, centre, scale, angle) for name, y in contours.items() if name != "x"}
    corners = _to_pixels(corner_x, corner_y, centre, scale, angle)  # (T, 2, 2)

    def with_corners(contour: np.ndarray) -> np.ndarray:
        return np.concatenate([corners[:, :1], contour, corners[:, 1:]], axis=1)

    lips = _band(with_corners(pix["upper_outer"]), with_corners(pix["lower_outer"]))
    opening = _band(pix["upper_inner"], pix["lower_inner"])
    upper_teeth = _band(pix["upper_inner"], pix["teeth_upper"])
    lower_teeth = _band(pix["teeth_lower"], pix["lower_inner"])
    tongue = _band(pix["tongue"], pix["lower_inner"])
    seam = pix["upper_inner"]
    seam_width = max(1, round(size / 64))

    frames = np.empty((num_frames, frame_size, frame_size), dtype=np.uint8)
    sigma = scene.blur * size
    aa = cv2.LINE_AA
    for t in range(num_frames):
        frame = frames[t]
        frame.fill(round(speaker.skin))
        cv2.fillPoly(frame, [lips[t]], speaker.lip, aa, _SHIFT)
        cv2.fillPoly(frame, [opening[t]], speaker.interior, aa, _SHIFT)
        cv2.fillPoly(frame, [tongue[t]], speaker.tongue, aa, _SHIFT)
        cv2.fillPoly(frame, [upper_teeth[t]], speaker.teeth, aa, _SHIFT)
        cv2.fillPoly(frame, [lower_teeth[t]], speaker.teeth, aa, _SHIFT)
        cv2.polylines(frame, [seam[t]], False, speaker.interior, seam_width, aa, _SHIFT)
        if sigma > 0.25:  # optics blur; the (smooth) lighting below commutes with it
            cv2.GaussianBlur(frame, (0, 0), sigma, dst=frame)

    # lighting: a brightness gradient across the frame and a little flicker over time
    ramp = np.linspace(-0.5, 0.5, frame_size, dtype=np.float32)
    light = scene.gain * (1.0 + scene.gradient_x * ramp[None, :] + scene.gradient_y * ramp[:, None])
    flicker = 1.0 + rng.normal(0.0, scene.flicker, num_frames).astype(np.float32)
    video = frames.astype(np.float32)
    video *= light[None] * flicker[:, None, None]
    noise = _sensor_noise(rng, video.shape)
    noise *= np.float32(scene.noise)
    video += noise
    video += 0.5  # round to nearest in the cast below
    np.clip(video, 0, 255, out=video)
    return video.astype(np.uint8)


def render_timeline(
    timeline: Timeline,
    rng: np.random.Generator,
    num_frames: int = 29,
    fps: float = 25.0,
    frame_size: int = 96,
    speaker: Speaker | None = None,
    scene: Scene | None = None,
) -> np.ndarray:
    """Frames uint8 ``(num_frames, frame_size, frame_size)`` of a mouth saying ``timeline``.

    ``timeline`` holds ``(phoneme, start_s, end_s)`` in clip time (ARPAbet, stress digits
    allowed, ``'SIL'`` for pauses; gaps are silence); entries may start before 0 or end after
    the last frame. ``speaker`` and ``scene`` are drawn from ``rng`` when not given.
    """
    if frame_size < 8:
        raise ValueError(f"frame_size={frame_size} is too small to draw a mouth (use >= 8)")
    speaker = Speaker.sample(rng) if speaker is None else speaker
    scene = Scene.sample(rng) if scene is None else scene
    trajectory = mouth_trajectory(timeline, num_frames, fps)
    return render_mouth(trajectory, speaker, scene, frame_size, rng)


__all__ = [
    "MOUTH_PARAMETERS",
    "VISEME_TARGETS",
    "Scene",
    "Speaker",
    "Timeline",
    "mouth_contours",
    "mouth_trajectory",
    "render_mouth",
    "render_timeline",
    "viseme_table",
]
