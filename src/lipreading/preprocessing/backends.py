"""Face models behind one small interface: a face detector and a face mesh, two implementations.

:class:`FaceModels` is what the tracker needs: ``detect(image)`` finds faces in an RGB image of any
size, ``mesh(crop)`` gives the 468 landmarks and a presence score of the face in a 192x192 crop.

- ``litert`` (the default): MediaPipe's own full-range face detector and face mesh
  (``face_detection_full_range_sparse.tflite``, ``face_landmark.tflite``, Apache-2.0, shipped in
  ``lipreading/preprocessing/models/``) run by LiteRT (``ai-edge-litert``, wheels for Python 3.10-3.13).
  It needs neither the ``mediapipe`` package nor a download.
- ``mediapipe``: the legacy ``mp.solutions`` API of ``mediapipe==0.10.21`` (installed only on Python
  <= 3.12), kept to check the first against.

The pre- and post-processing follow MediaPipe's graphs (``face_detection_full_range.pbtxt``:
letterbox to 192x192 in [-1, 1], 2304 SSD anchors of stride 4, sigmoid scores, weighted non-maximum
suppression at IoU 0.3; ``face_landmark_cpu.pbtxt``: a 192x192 crop in [0, 1], landmarks in crop
pixels, a face-presence logit), github.com/google-ai-edge/mediapipe, ``mediapipe/modules/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from lipreading.preprocessing.quiet import native_stderr
from lipreading.utils.errors import ConfigError

MODELS = Path(__file__).resolve().parent / "models"
MESH_SIZE = 192  # side of the face mesh's input crop
DETECTOR_SIZE = 192  # side of the full-range detector's input
NUM_LANDMARKS = 468
# A detection row: box x0, y0, x1, y1, then six keypoints (x, y): right eye, left eye, nose tip,
# mouth centre, right ear tragion, left ear tragion; then the score. Image pixels.
DETECTION_COLUMNS = 17
SCORE = 16
NMS_IOU = 0.3


class FaceModels(Protocol):
    """A face detector and a face mesh; use as a context manager (``close`` frees the models)."""

    name: str

    def detect(self, image_rgb: np.ndarray) -> np.ndarray:
        """Faces in an RGB uint8 image (H, W, 3): rows of :data:`DETECTION_COLUMNS` in its pixels."""
        ...

    def mesh(self, crop_rgb: np.ndarray) -> tuple[np.ndarray, float]:
        """Landmarks (468, 3) in pixels of a 192x192 RGB crop, and the face's presence in [0, 1]."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> FaceModels: ...

    def __exit__(self, *exc: object) -> None: ...


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -80.0, 80.0)))


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one box (4,) with boxes (N, 4), as x0, y0, x1, y1."""
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def weighted_nms(detections: np.ndarray, iou: float = NMS_IOU) -> np.ndarray:
    """MediaPipe's WEIGHTED suppression: each cluster of overlapping detections becomes their
    score-weighted mean (box and keypoints), with the cluster's best score."""
    remaining = detections[np.argsort(-detections[:, SCORE])]
    kept = []
    while len(remaining):
        overlap = box_iou(remaining[0, :4], remaining[:, :4]) > iou
        cluster = remaining[overlap]
        weights = cluster[:, SCORE:] / cluster[:, SCORE].sum()
        merged = (cluster[:, :SCORE] * weights).sum(axis=0)
        kept.append(np.append(merged, remaining[0, SCORE]))
        remaining = remaining[~overlap]
    return np.array(kept, dtype=np.float32).reshape(-1, DETECTION_COLUMNS)


def ssd_anchors(size: int = DETECTOR_SIZE, stride: int = 4) -> np.ndarray:
    """Anchor centres (N, 2) in input pixels: one per ``stride`` cell, row by row (fixed size)."""
    cells = size // stride
    ys, xs = np.mgrid[0:cells, 0:cells]
    return (np.stack([xs.ravel(), ys.ravel()], axis=1) + 0.5).astype(np.float32) * stride


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, np.ndarray]:
    """``image`` scaled to fit ``size`` x ``size`` (aspect kept, centred, zero border), the scale,
    and the offset (x, y): input pixel = image pixel * scale + offset."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, new_size, interpolation=interpolation)
    offset = np.array([(size - new_size[0]) // 2, (size - new_size[1]) // 2])
    boxed = np.zeros((size, size, 3), np.uint8)
    boxed[offset[1] : offset[1] + new_size[1], offset[0] : offset[0] + new_size[0]] = resized
    return boxed, scale, offset.astype(np.float32)


class LiteRTFaceModels:
    """MediaPipe's full-range face detector and face mesh run by LiteRT on one thread."""

    name = "litert"

    def __init__(
        self, min_detection_confidence: float = 0.5, native_logs: bool = False, num_threads: int = 1
    ) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as e:
            raise ConfigError(
                f"roi.backend=litert needs the ai-edge-litert package ({e}); "
                "install the project again (pip install -e .) or use roi.backend=mediapipe"
            ) from None
        self._native_logs = native_logs
        self._min_score = min_detection_confidence
        self._anchors = ssd_anchors()
        with native_stderr(native_logs):
            self._detector = Interpreter(
                model_path=str(MODELS / "face_detection_full_range_sparse.tflite"),
                num_threads=num_threads,
            )
            self._landmarker = Interpreter(
                model_path=str(MODELS / "face_landmark.tflite"), num_threads=num_threads
            )
            for interpreter in (self._detector, self._landmarker):
                interpreter.allocate_tensors()
        self._detector_io = _io_indices(self._detector, ("Identity", "Identity_1"))
        self._landmarker_io = _io_indices(self._landmarker, ("conv2d_21", "conv2d_31"))

    def _run(self, interpreter, io: tuple[int, int, int], tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        interpreter.set_tensor(io[0], tensor)
        interpreter.invoke()
        return interpreter.get_tensor(io[1]), interpreter.get_tensor(io[2])

    def detect(self, image_rgb: np.ndarray) -> np.ndarray:
        boxed, scale, offset = letterbox(image_rgb, DETECTOR_SIZE)
        tensor = (boxed.astype(np.float32) / 127.5 - 1.0)[None]  # (1, 192, 192, 3) in [-1, 1]
        regressors, logits = self._run(self._detector, self._detector_io, tensor)
        scores = sigmoid(logits[0, :, 0])
        keep = scores >= self._min_score
        if not keep.any():
            return np.zeros((0, DETECTION_COLUMNS), np.float32)
        raw, anchors = regressors[0, keep], self._anchors[keep]  # (N, 16) input pixels, (N, 2)
        centres = raw[:, :2] + anchors
        half = raw[:, 2:4] / 2
        keypoints = raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None]
        rows = np.concatenate(
            [centres - half, centres + half, keypoints.reshape(-1, 12), scores[keep, None]], axis=1
        )
        rows = weighted_nms(rows.astype(np.float32))
        points = rows[:, :SCORE].reshape(len(rows), 8, 2)  # box corners and keypoints (x, y)
        rows[:, :SCORE] = ((points - offset) / scale).reshape(len(rows), SCORE)
        return rows

    def mesh(self, crop_rgb: np.ndarray) -> tuple[np.ndarray, float]:
        tensor = (crop_rgb.astype(np.float32) / 255.0)[None]  # (1, 192, 192, 3) in [0, 1]
        landmarks, presence = self._run(self._landmarker, self._landmarker_io, tensor)
        return landmarks.reshape(NUM_LANDMARKS, 3), float(sigmoid(presence.ravel()[0]))

    def close(self) -> None:
        self._detector = self._landmarker = None

    def __enter__(self) -> LiteRTFaceModels:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _io_indices(interpreter, outputs: tuple[str, ...]) -> tuple[int, ...]:
    """The input's tensor index, then those of the named outputs."""
    by_name = {d["name"]: d["index"] for d in interpreter.get_output_details()}
    return (interpreter.get_input_details()[0]["index"], *(by_name[name] for name in outputs))


class MediaPipeFaceModels:
    """The same two tasks through the legacy ``mp.solutions`` API of ``mediapipe==0.10.21``.

    NOTE: its face mesh finds the face in the crop again with its own short-range detector, and it
    gives no presence score: a face it finds counts as present (1.0).
    """

    name = "mediapipe"

    def __init__(self, min_detection_confidence: float = 0.5, native_logs: bool = False) -> None:
        try:
            import mediapipe as mp
        except ImportError as e:
            raise ConfigError(
                f"roi.backend=mediapipe needs mediapipe==0.10.21 ({e}), which installs on Python "
                "3.9-3.12 only; use roi.backend=litert (the default)"
            ) from None
        self._native_logs = native_logs
        with native_stderr(native_logs):
            self._detector = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=min_detection_confidence
            )
            self._landmarker = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=False
            )
            # Its graphs open their models on worker threads, which log then (asynchronously);
            # one frame through each waits for that, so those lines land here, not later.
            blank = np.zeros((MESH_SIZE, MESH_SIZE, 3), np.uint8)
            self._detector.process(blank)
            self._landmarker.process(blank)

    def detect(self, image_rgb: np.ndarray) -> np.ndarray:
        height, width = image_rgb.shape[:2]
        with native_stderr(self._native_logs):
            result = self._detector.process(np.ascontiguousarray(image_rgb))
        rows = []
        for detection in result.detections or []:
            box = detection.location_data.relative_bounding_box
            keypoints = [(k.x, k.y) for k in detection.location_data.relative_keypoints]
            corners = [(box.xmin, box.ymin), (box.xmin + box.width, box.ymin + box.height)]
            points = np.array(corners + keypoints, np.float32) * (width, height)
            rows.append(np.append(points.ravel(), detection.score[0]))
        return np.array(rows, dtype=np.float32).reshape(-1, DETECTION_COLUMNS)

    def mesh(self, crop_rgb: np.ndarray) -> tuple[np.ndarray, float]:
        with native_stderr(self._native_logs):
            result = self._landmarker.process(np.ascontiguousarray(crop_rgb))
        if not result.multi_face_landmarks:
            return np.zeros((NUM_LANDMARKS, 3), np.float32), 0.0
        points = [(p.x, p.y, p.z) for p in result.multi_face_landmarks[0].landmark]
        return np.array(points, np.float32) * crop_rgb.shape[1], 1.0

    def close(self) -> None:
        with native_stderr(self._native_logs):
            self._detector.close()
            self._landmarker.close()

    def __enter__(self) -> MediaPipeFaceModels:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


BACKENDS = {"litert": LiteRTFaceModels, "mediapipe": MediaPipeFaceModels}


def face_models(name: str, min_detection_confidence: float, native_logs: bool = False) -> FaceModels:
    """The backend called ``name`` (a key of :data:`BACKENDS`), loaded."""
    return BACKENDS[name](min_detection_confidence=min_detection_confidence, native_logs=native_logs)
