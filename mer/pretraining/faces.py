"""Square face images of one macro-expression video, at the pre-training input size.

Two modes (params `pretrain.face`):

* `detect`: the pipeline's face crop (`mer.preprocess.faces`): one MTCNN box per video,
  detected on the first frame (then the middle, then the last frame if the first shows no
  face), made square with `crop.margin` and applied rigidly to every frame, so box jitter
  cannot look like facial motion; without rotation (`crop.align` is not applied);
* `center`: the centred square of the frame, for videos that are already face crops (DFEW's
  and most corpora's released crops).

Both resize with `cv2.INTER_AREA`, the pipeline's choice for down-scaling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np

from mer.errors import ConfigError, InputDataError


def _resize(frames: np.ndarray, box: tuple[int, int, int, int], size: int) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.stack([cv2.resize(f[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA) for f in frames])


def center_box(frames: np.ndarray, crop: dict[str, Any], where: str) -> tuple[int, int, int, int]:
    """The centred square of the frames (the larger side is trimmed equally on both ends)."""
    height, width = frames.shape[1:3]
    side = min(height, width)
    left, top = (width - side) // 2, (height - side) // 2
    return left, top, left + side, top + side


def detected_box(frames: np.ndarray, crop: dict[str, Any], where: str) -> tuple[int, int, int, int]:
    """The pipeline's square MTCNN box (params `crop`) from the first frame that shows a face."""
    from mer.preprocess.faces import detect, square_box

    height, width = frames.shape[1:3]
    for index in dict.fromkeys([0, len(frames) // 2, len(frames) - 1]):
        found = detect(np.ascontiguousarray(frames[index]), index, crop)
        if found is not None:
            return square_box(found.box, float(crop["margin"]), width, height)
    raise InputDataError("MTCNN found no face on the first, middle or last frame", path=where)


FACE_MODES: dict[str, Callable[[np.ndarray, dict[str, Any], str], tuple[int, int, int, int]]] = {
    "detect": detected_box,
    "center": center_box,
}


def face_frames(frames: np.ndarray, size: int, mode: str, crop: dict[str, Any], where: str) -> np.ndarray:
    """(T, size, size, 3) uint8 face images of a (T, H, W, 3) uint8 RGB video; `where` names it in errors."""
    if mode not in FACE_MODES:
        raise ConfigError(f"pretrain.face must be one of {sorted(FACE_MODES)}, got {mode!r}")
    return _resize(frames, FACE_MODES[mode](frames, crop, where), size)
