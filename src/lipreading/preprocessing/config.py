"""The settings of the mouth-region preprocessing, defined once and passed down."""

from __future__ import annotations

from dataclasses import dataclass

from lipreading.preprocessing.backends import BACKENDS
from lipreading.utils.errors import ConfigError

FACE_RULES = ("speaker", "largest", "centre")
# How a face is aligned and its mouth cut (lipreading.preprocessing.align.ALIGNMENTS): face_mesh, this project's
# (stable mesh points onto an upright face, the mouth's width set by padding); tcn_reference, the reference TCN
# code's mean-face alignment and 96x96 cut (roi=tcn_reference; lipreading.preprocessing.reference_geometry).
ALIGNMENTS = ("face_mesh", "tcn_reference")


@dataclass
class PreprocessConfig:
    """How raw video becomes mouth regions (the defaults give LRW-style 96x96 grayscale crops)."""

    fps: float = 25.0  # output frame rate; other rates are resampled to it
    crop_size: int = 96  # side of the square mouth region in pixels
    grayscale: bool = True  # False keeps colour (T, H, W, 3), in RGB order
    # Margin around the mouth on each side, as a fraction of the reference mouth width: the
    # reference mouth spans crop_size / (1 + 2 * padding) pixels (about 53 of 96 by default).
    padding: float = 0.4
    smooth_window: int = 5  # frames of the centred moving average applied to the landmarks (face_mesh alignment)
    alignment: str = "face_mesh"  # or tcn_reference: the reference TCN code's crops (see ALIGNMENTS above)
    # Whose mouth is cropped when several people are seen: "speaker" (the person whose mouth moves
    # most over the clip), "largest" (the largest face over the clip), "centre" (the face nearest
    # the middle of the frame over the clip), or a number N (people counted from 0, left to right).
    face: str = "speaker"
    backend: str = "litert"  # face models: litert (no mediapipe needed) or mediapipe (legacy API)
    min_face_size: int = 60  # width in pixels of the smallest face searched for (sets the tiles)
    max_num_faces: int = 4  # faces followed at once; beyond it the smallest are not looked at
    detect_every: int = 25  # frames between searches for newly arrived faces while others are followed
    min_face_fraction: float = 0.5  # clips whose chosen face is found in fewer frames are skipped
    max_gap: float = 0.5  # seconds: longer losses of the chosen face are reported (then interpolated)
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5  # the face mesh's presence score below which a face is lost
    native_logs: bool = False  # true: show MediaPipe's / LiteRT's own C++ log lines
    # Audio: 16 kHz mono, 640 samples per 25 fps frame, from the video's audio track (LRW's mp4)
    # or the item's WAV file (Chinese-LiPS). A clip without audio, or whose audio and video lengths
    # differ by more than a frame, is skipped with a message ("skip") or cut to the video ("trim").
    audio: bool = False
    audio_mismatch: str = "skip"

    def __post_init__(self) -> None:
        if self.crop_size < 8:
            raise ConfigError(f"crop_size={self.crop_size}: use at least 8 pixels")
        if self.fps <= 0:
            raise ConfigError(f"fps={self.fps}: the output frame rate must be positive")
        if self.audio_mismatch not in ("skip", "trim"):
            raise ConfigError(f"audio_mismatch={self.audio_mismatch!r}: use skip or trim")
        if self.smooth_window < 1:
            raise ConfigError(f"smooth_window={self.smooth_window}: use 1 (no smoothing) or more")
        if self.max_num_faces < 1:
            raise ConfigError(f"max_num_faces={self.max_num_faces}: use 1 or more")
        if not 0.0 < self.min_face_fraction <= 1.0:
            raise ConfigError(f"min_face_fraction={self.min_face_fraction}: use a value in (0, 1]")
        if self.face not in FACE_RULES and not str(self.face).isdigit():
            raise ConfigError(
                f"face={self.face!r}: use one of {list(FACE_RULES)} or a person's number (0, 1, ...)"
            )
        if self.alignment not in ALIGNMENTS:
            raise ConfigError(f"alignment={self.alignment!r}: use one of {list(ALIGNMENTS)}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend={self.backend!r}: use one of {sorted(BACKENDS)}")
        if self.min_face_size < 16:
            raise ConfigError(f"min_face_size={self.min_face_size}: use at least 16 pixels")
        if self.detect_every < 1:
            raise ConfigError(f"detect_every={self.detect_every}: use 1 (every frame) or more")


def register_configs() -> None:
    """Register :class:`PreprocessConfig` with Hydra as the typed option ``roi: default``."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group="roi", name="default", node=PreprocessConfig)
