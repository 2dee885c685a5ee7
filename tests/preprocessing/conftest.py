"""Fixtures of this folder: talking-head videos of real faces (tests/helpers/face_video.py)."""

from tests.helpers.face_video import face_still, head, hopper_still  # noqa: F401 (re-exported fixtures)
