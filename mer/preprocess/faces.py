"""Face crops: one MTCNN box per clip, detected on the reference frame, applied to every frame.

Detecting once and reusing the box keeps the crop rigid across the clip, so the subtle
motion of a micro-expression is not drowned by per-frame box jitter (the usual MER
practice, shared reference datasets.md §5.1, §7.3). The detector, its settings, the box,
landmarks and any fallback taken are stored with the crops in faces/<subject>.h5.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import pandas as pd

from mer import h5
from mer.errors import InputDataError

DETECTOR = f"facenet-pytorch MTCNN {metadata.version('facenet-pytorch')}"
NEIGHBOUR_RADIUS = 3  # frames tried on each side of the reference when it shows no face


class FrameSource(Protocol):
    """Lists and reads a clip's frame files (`mer.datasets.frames` satisfies it)."""

    def list_frames(self, clip_dir: Path, pattern: re.Pattern[str]) -> list[tuple[int, Path]]: ...

    def read_frame(self, path: Path, *, dataset: str, subject: str, clip: str, frame: int) -> np.ndarray: ...


@dataclass(frozen=True)
class Detection:
    """The face chosen on one frame: MTCNN box (x0, y0, x1, y1), 5 landmarks, probability."""

    frame: int
    box: np.ndarray
    landmarks: np.ndarray
    probability: float
    faces: int


def resolve_device(device: str) -> str:
    """'auto' → 'cuda' when torch sees a GPU, else 'cpu'; other values pass through."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.cache
def _mtcnn(thresholds: tuple[float, ...], min_face_size: int, device: str) -> Any:
    """The process's MTCNN, built on first use (weights ship inside facenet-pytorch)."""
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=True, thresholds=list(thresholds), min_face_size=min_face_size, device=device)


def detect(image: np.ndarray, frame: int, crop: dict[str, Any]) -> Detection | None:
    """The largest face MTCNN finds in an (H, W, 3) uint8 RGB image (ties: most probable), or None."""
    thresholds = tuple(float(t) for t in crop["thresholds"])
    detector = _mtcnn(thresholds, int(crop["min_face_size"]), resolve_device(crop["device"]))
    boxes, probs, points = detector.detect(image, landmarks=True)
    if boxes is None or len(boxes) == 0:
        return None
    boxes = np.asarray(boxes, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    best = np.lexsort((-probs, -areas))[0]
    return Detection(
        frame=frame,
        box=boxes[best],
        landmarks=np.asarray(points[best], dtype=np.float32),
        probability=float(probs[best]),
        faces=len(boxes),
    )


def square_box(box: np.ndarray, margin: float, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer square (x0, y0, x1, y1) around the box centre, enlarged by `margin` of the box size per side.

    The side is max(w, h)·(1 + 2·margin), rounded half up; the square is shifted (never
    padded) to lie inside the image, and shrunk to the shorter image side if it is larger.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    side = min(math.floor(max(x1 - x0, y1 - y0) * (1 + 2 * margin) + 0.5), width, height)
    left = math.floor((x0 + x1) / 2 - side / 2 + 0.5)
    top = math.floor((y0 + y1) / 2 - side / 2 + 0.5)
    left = min(max(left, 0), width - side)
    top = min(max(top, 0), height - side)
    return left, top, left + side, top + side


def crop_subject(
    rows: pd.DataFrame,
    root: Path,
    frame_regex: re.Pattern[str] | str,
    crop: dict[str, Any],
    out_path: Path,
    *,
    source: FrameSource | None = None,
) -> None:
    """Write faces/<subject>.h5 for the manifest `rows` of one subject.

    Each clip keeps frames onset … offset (by frame number; gaps in the files are kept as
    gaps, but onset, apex and offset must exist), cropped with the box found on the
    `crop.reference` frame and resized to crop.size with INTER_AREA. `source` reads the
    frames (default: `mer.datasets.frames`). Raises InputDataError when no face is found on
    the reference frame or its neighbours.
    """
    if source is None:
        from mer.datasets import frames as source
    pattern = re.compile(frame_regex) if isinstance(frame_regex, str) else frame_regex
    datasets, subjects = rows["dataset"].unique(), rows["subject"].unique()
    if len(datasets) != 1 or len(subjects) != 1:
        raise ValueError(f"crop_subject takes the rows of one subject, got {list(datasets)} / {list(subjects)}")
    dataset, subject = str(datasets[0]), str(subjects[0])
    with h5.open_for_write(out_path) as out:
        out.attrs["dataset"], out.attrs["subject"] = dataset, subject
        for row in rows.sort_values("clip").itertuples(index=False):
            _crop_clip(row, dataset, subject, Path(root), pattern, crop, source, out)


def _crop_clip(
    row: Any,
    dataset: str,
    subject: str,
    root: Path,
    pattern: re.Pattern[str],
    crop: dict[str, Any],
    source: FrameSource,
    out: Any,
) -> None:
    """Detect once on the reference frame, crop every frame of the clip, write its group."""
    clip = str(row.clip)
    where = {"dataset": dataset, "subject": subject, "clip": clip}
    onset, apex, offset = int(row.onset), int(row.apex), int(row.offset)
    files = dict(source.list_frames(root / str(row.frame_dir), pattern))
    for frame in (onset, apex, offset):
        if frame not in files:
            raise InputDataError("keyframe file is missing from the clip folder", **where, frame=frame)

    def read(frame: int) -> np.ndarray:
        return source.read_frame(files[frame], **where, frame=frame)

    reference = onset if crop["reference"] == "onset" else apex
    detection, fallback = _find_face(reference, files, read, crop)
    if detection is None:
        raise InputDataError(
            f"MTCNN found no face on the reference frame or within ±{NEIGHBOUR_RADIUS} frames of it",
            **where,
            frame=reference,
        )
    numbers = [n for n in sorted(files) if onset <= n <= offset]
    first = read(numbers[0])
    height, width = first.shape[:2]
    x0, y0, x1, y1 = square_box(detection.box, float(crop["margin"]), width, height)
    size = int(crop["size"])
    faces = np.empty((len(numbers), size, size, 3), dtype=np.uint8)
    for i, number in enumerate(numbers):
        image = first if i == 0 else read(number)
        if image.shape[:2] != (height, width):
            reason = f"frame size {image.shape[:2]} differs from the clip's {(height, width)}"
            raise InputDataError(reason, **where, frame=number)
        faces[i] = cv2.resize(image[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA)

    group = h5.create_group(out, clip)
    h5.create_dataset(group, "frames", faces)
    h5.create_dataset(group, "frame_numbers", np.asarray(numbers, dtype=np.int32))
    group.attrs["box"] = np.array([x0, y0, x1, y1], dtype=np.int32)
    group.attrs["landmarks"] = detection.landmarks
    group.attrs["probability"] = detection.probability
    group.attrs["reference_frame"] = detection.frame
    group.attrs["fallback"] = fallback
    group.attrs["detector"] = DETECTOR
    group.attrs["device"] = resolve_device(crop["device"])
    group.attrs["thresholds"] = np.asarray(crop["thresholds"], dtype=np.float64)
    group.attrs["min_face_size"] = int(crop["min_face_size"])
    group.attrs["margin"] = float(crop["margin"])
    group.attrs["size"] = size


def _find_face(
    reference: int, files: dict[int, Path], read: Callable[[int], np.ndarray], crop: dict[str, Any]
) -> tuple[Detection | None, str]:
    """Detect on `reference`, then on reference+1, −1, +2, −2 … (existing files only).

    Returns the detection and the fallback record: "none", "neighbour_frame:<N>",
    "largest_face" (several faces found), or both joined by ";".
    """
    order = [reference] + [reference + sign * k for k in range(1, NEIGHBOUR_RADIUS + 1) for sign in (1, -1)]
    for frame in order:
        if frame not in files:
            continue
        detection = detect(read(frame), frame, crop)
        if detection is None:
            continue
        notes = [f"neighbour_frame:{frame}"] if frame != reference else []
        notes += ["largest_face"] if detection.faces > 1 else []
        return detection, ";".join(notes) or "none"
    return None, "none"
