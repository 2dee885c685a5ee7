"""Fixtures of this folder: talking-head videos of a real face (tests/helpers/face_video.py)."""

from tests.helpers.face_video import face_still, head  # noqa: F401 (re-exported fixtures)
