"""Raw video -> mouth-region clips: decoding, face detection and tracking, landmarks, the speaker's
choice, alignment, cropping, batch runs. One entry for one video: :func:`preprocess_video`."""

from lipreading.preprocessing.config import PreprocessConfig, register_configs
from lipreading.preprocessing.items import LayoutError, Listing, MouthFramesItem, VideoItem
from lipreading.preprocessing.landmarks import NoFaceError
from lipreading.preprocessing.mouth import preprocess_video
from lipreading.preprocessing.pipeline import Summary, process_listing
from lipreading.preprocessing.report import VideoReport
from lipreading.preprocessing.video import VideoError

__all__ = [
    "LayoutError",
    "Listing",
    "MouthFramesItem",
    "NoFaceError",
    "PreprocessConfig",
    "Summary",
    "VideoError",
    "VideoItem",
    "VideoReport",
    "preprocess_video",
    "process_listing",
    "register_configs",
]
