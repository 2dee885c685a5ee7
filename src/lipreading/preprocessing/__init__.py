"""Raw video -> mouth-region clips: decoding, face landmarks, alignment, cropping, batch runs."""

from lipreading.preprocessing.config import PreprocessConfig, register_configs
from lipreading.preprocessing.items import LayoutError, Listing, MouthFramesItem, VideoItem
from lipreading.preprocessing.landmarks import NoFaceError
from lipreading.preprocessing.pipeline import Summary, preprocess_video, process_listing
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
    "preprocess_video",
    "process_listing",
    "register_configs",
]
