"""The settings of the mouth-region preprocessing, defined once and passed down."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class PreprocessConfig:
    """How raw video becomes mouth regions (the defaults give LRW-style 96x96 grayscale crops)."""

    fps: float = 25.0  # output frame rate; other rates are resampled to it
    crop_size: int = 96  # side of the square mouth region in pixels
    grayscale: bool = True  # False keeps colour (T, H, W, 3), in RGB order
    # Margin around the mouth on each side, as a fraction of the reference mouth width: the
    # reference mouth spans crop_size / (1 + 2 * padding) pixels (about 53 of 96 by default).
    padding: float = 0.4
    smooth_window: int = 5  # frames of the centred moving average applied to the landmarks
    max_num_faces: int = 2  # faces MediaPipe may return per frame; the largest one is followed
    min_face_fraction: float = 0.5  # clips whose face is found in fewer frames are skipped
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    # Audio: 16 kHz mono, 640 samples per 25 fps frame, from the video's audio track (LRW's mp4)
    # or the item's WAV file (Chinese-LiPS). A clip without audio, or whose audio and video lengths
    # differ by more than a frame, is skipped with a message ("skip") or cut to the video ("trim").
    audio: bool = False
    audio_mismatch: str = "skip"

    def __post_init__(self) -> None:
        if self.crop_size < 8:
            raise ValueError(f"crop_size={self.crop_size}: use at least 8 pixels")
        if self.fps <= 0:
            raise ValueError(f"fps={self.fps}: the output frame rate must be positive")
        if self.audio_mismatch not in ("skip", "trim"):
            raise ValueError(f"audio_mismatch={self.audio_mismatch!r}: use skip or trim")
        if self.smooth_window < 1:
            raise ValueError(f"smooth_window={self.smooth_window}: use 1 (no smoothing) or more")
        if self.max_num_faces < 1:
            raise ValueError(f"max_num_faces={self.max_num_faces}: use 1 or more")
        if not 0.0 < self.min_face_fraction <= 1.0:
            raise ValueError(f"min_face_fraction={self.min_face_fraction}: use a value in (0, 1]")


def register_configs() -> None:
    """Register :class:`PreprocessConfig` with Hydra as the typed option ``roi: default``."""
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(group="roi", name="default", node=PreprocessConfig)
