"""Face crops: one MTCNN box per clip, detected on the reference frame, applied to every frame.

Detecting once and reusing the box keeps the crop rigid across the clip, so the subtle
motion of a micro-expression is not drowned by per-frame box jitter (the usual MER
practice, shared reference datasets.md §5.1, §7.3). The reference frames of all clips of a
subject go through MTCNN in one batched call (per frame size). With `crop.align` the clip is
also rotated about the eye midpoint so the eyes are level; the same rotation serves every
frame. The detector, its settings, the box, landmarks, the 2×3 frame → crop transform and
any fallback taken are stored with the crops in faces/<subject>.h5.
"""

from __future__ import annotations

import functools
import math
import re
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


def detect_batch(images: list[np.ndarray], frames: list[int], crop: dict[str, Any]) -> list[Detection | None]:
    """The largest face (ties: most probable) MTCNN finds in each (H, W, 3) uint8 RGB image, or None.

    All images go through the detector in one batch and must share one size. Images whose
    shorter side is below `crop.min_face_size` cannot hold a face MTCNN looks for (its image
    pyramid would be empty and facenet-pytorch would fail on it): they give None, so the
    caller's fallbacks or its InputDataError apply.
    """
    if not images or min(images[0].shape[:2]) < int(crop["min_face_size"]):
        return [None] * len(images)
    thresholds = tuple(float(t) for t in crop["thresholds"])
    detector = _mtcnn(thresholds, int(crop["min_face_size"]), resolve_device(crop["device"]))
    batch_boxes, batch_probs, batch_points = detector.detect(list(images), landmarks=True)
    found: list[Detection | None] = []
    for frame, boxes, probs, points in zip(frames, batch_boxes, batch_probs, batch_points, strict=True):
        if boxes is None or len(boxes) == 0:
            found.append(None)
            continue
        boxes = np.asarray(boxes, dtype=np.float64)
        probs = np.asarray(probs, dtype=np.float64)
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        best = np.lexsort((-probs, -areas))[0]
        found.append(
            Detection(
                frame=frame,
                box=boxes[best],
                landmarks=np.asarray(points[best], dtype=np.float32),
                probability=float(probs[best]),
                faces=len(boxes),
            )
        )
    return found


def detect(image: np.ndarray, frame: int, crop: dict[str, Any]) -> Detection | None:
    """`detect_batch` on one image."""
    return detect_batch([image], [frame], crop)[0]


def eye_rotation(landmarks: np.ndarray) -> tuple[float, np.ndarray]:
    """Angle (degrees) of the eye line and the 2×3 rotation about the eye midpoint that levels it.

    MTCNN order: landmarks[0] is the left eye in the image, landmarks[1] the right one.
    """
    left, right = np.asarray(landmarks[0], dtype=np.float64), np.asarray(landmarks[1], dtype=np.float64)
    angle = math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))
    centre = (float((left[0] + right[0]) / 2), float((left[1] + right[1]) / 2))
    return angle, cv2.getRotationMatrix2D(centre, angle, 1.0)


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


@dataclass(frozen=True)
class _Clip:
    """One clip's files, where-fields for errors, and its reference frame image."""

    row: Any
    where: dict[str, str]
    files: dict[int, Path]
    reference: int
    image: np.ndarray


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
    `crop.reference` frame (optionally eye-aligned, `crop.align`) and resized to crop.size
    with INTER_AREA. Reference frames of all clips go through MTCNN in one batch per frame
    size. Fallbacks, in order: neighbouring frames, then the previous clip's box (clips in
    name order). `source` reads the frames (default: `mer.datasets.frames`). Raises
    InputDataError when no fallback finds a face.
    """
    if source is None:
        from mer.datasets import frames as source
    pattern = re.compile(frame_regex) if isinstance(frame_regex, str) else frame_regex
    datasets, subjects = rows["dataset"].unique(), rows["subject"].unique()
    if len(datasets) != 1 or len(subjects) != 1:
        raise ValueError(f"crop_subject takes the rows of one subject, got {list(datasets)} / {list(subjects)}")
    dataset, subject = str(datasets[0]), str(subjects[0])
    clips = [
        _clip_files(row, dataset, subject, Path(root), pattern, crop, source)
        for row in rows.sort_values("clip").itertuples(index=False)
    ]
    found = _detect_references(clips, crop)
    with h5.open_for_write(out_path) as out:
        out.attrs["dataset"], out.attrs["subject"] = dataset, subject
        previous: tuple[str, Detection] | None = None
        for clip in clips:
            detection, fallback = _with_fallbacks(clip, found[clip.where["clip"]], previous, crop, source)
            _crop_clip(clip, detection, fallback, crop, source, out)
            previous = (clip.where["clip"], detection)


def _clip_files(
    row: Any, dataset: str, subject: str, root: Path, pattern: re.Pattern[str], crop: dict[str, Any], source: FrameSource
) -> _Clip:
    """List a clip's frames, check its keyframes exist, read its reference frame."""
    where = {"dataset": dataset, "subject": subject, "clip": str(row.clip)}
    files = dict(source.list_frames(root / str(row.frame_dir), pattern))
    for frame in (int(row.onset), int(row.apex), int(row.offset)):
        if frame not in files:
            raise InputDataError("keyframe file is missing from the clip folder", **where, frame=frame)
    reference = int(row.onset) if crop["reference"] == "onset" else int(row.apex)
    return _Clip(row, where, files, reference, source.read_frame(files[reference], **where, frame=reference))


def _detect_references(clips: list[_Clip], crop: dict[str, Any]) -> dict[str, Detection | None]:
    """MTCNN on every clip's reference frame: one batched call per distinct frame size."""
    by_shape: dict[tuple[int, ...], list[_Clip]] = {}
    for clip in clips:
        by_shape.setdefault(clip.image.shape, []).append(clip)
    found: dict[str, Detection | None] = {}
    for group in by_shape.values():
        results = detect_batch([c.image for c in group], [c.reference for c in group], crop)
        found.update({c.where["clip"]: d for c, d in zip(group, results, strict=True)})
    return found


def _with_fallbacks(
    clip: _Clip,
    detection: Detection | None,
    previous: tuple[str, Detection] | None,
    crop: dict[str, Any],
    source: FrameSource,
) -> tuple[Detection, str]:
    """The detection to use and its fallback record ("none" or notes joined by ";").

    No face on the reference: existing frames at reference +1, −1, +2, −2 … ±NEIGHBOUR_RADIUS
    ("neighbour_frame:<N>"), then the previous clip's detection ("previous_box:<clip>");
    several faces: the largest ("largest_face").
    """
    notes = []
    if detection is None:
        order = [clip.reference + sign * k for k in range(1, NEIGHBOUR_RADIUS + 1) for sign in (1, -1)]
        for frame in (f for f in order if f in clip.files):
            detection = detect(source.read_frame(clip.files[frame], **clip.where, frame=frame), frame, crop)
            if detection is not None:
                notes.append(f"neighbour_frame:{frame}")
                break
    if detection is None and previous is not None:
        notes.append(f"previous_box:{previous[0]}")
        return previous[1], ";".join(notes)
    if detection is None:
        height, width = clip.image.shape[:2]
        small = f"; the {width}x{height} frame is smaller than crop.min_face_size {crop['min_face_size']}"
        raise InputDataError(
            f"MTCNN found no face on the reference frame or within ±{NEIGHBOUR_RADIUS} frames of it, "
            "and no earlier clip of the subject has a box"
            + (small if min(height, width) < int(crop["min_face_size"]) else ""),
            **clip.where,
            frame=clip.reference,
        )
    notes += ["largest_face"] if detection.faces > 1 else []
    return detection, ";".join(notes) or "none"


def _crop_clip(
    clip: _Clip, detection: Detection, fallback: str, crop: dict[str, Any], source: FrameSource, out: Any
) -> None:
    """Crop every frame onset … offset with one box (and one rotation), write the clip's group."""
    onset, offset = int(clip.row.onset), int(clip.row.offset)
    numbers = [n for n in sorted(clip.files) if onset <= n <= offset]
    height, width = clip.image.shape[:2]
    box = detection.box
    angle, rotation = 0.0, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    if crop["align"]:
        angle, rotation = eye_rotation(detection.landmarks)
        centre = rotation @ np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 1.0])
        half = np.array([box[2] - box[0], box[3] - box[1]]) / 2
        box = np.concatenate([centre - half, centre + half])
    x0, y0, x1, y1 = square_box(box, float(crop["margin"]), width, height)
    size = int(crop["size"])
    to_box = rotation - np.array([[0.0, 0.0, x0], [0.0, 0.0, y0]])
    faces = np.empty((len(numbers), size, size, 3), dtype=np.uint8)
    for i, number in enumerate(numbers):
        image = clip.image if number == clip.reference else source.read_frame(clip.files[number], **clip.where, frame=number)
        if image.shape[:2] != (height, width):
            reason = f"frame size {image.shape[:2]} differs from the clip's {(height, width)}"
            raise InputDataError(reason, **clip.where, frame=number)
        if crop["align"]:
            patch = cv2.warpAffine(image, to_box, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        else:
            patch = image[y0:y1, x0:x1]
        faces[i] = cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)

    group = h5.create_group(out, clip.where["clip"])
    h5.create_dataset(group, "frames", faces)
    h5.create_dataset(group, "frame_numbers", np.asarray(numbers, dtype=np.int32))
    group.attrs["box"] = np.array([x0, y0, x1, y1], dtype=np.int32)
    group.attrs["landmarks"] = detection.landmarks
    group.attrs["probability"] = detection.probability
    group.attrs["reference_frame"] = detection.frame
    group.attrs["fallback"] = fallback
    group.attrs["align"] = bool(crop["align"])
    group.attrs["rotation_deg"] = angle
    group.attrs["transform"] = to_box * (size / (x1 - x0))
    group.attrs["detector"] = DETECTOR
    group.attrs["device"] = resolve_device(crop["device"])
    group.attrs["thresholds"] = np.asarray(crop["thresholds"], dtype=np.float64)
    group.attrs["min_face_size"] = int(crop["min_face_size"])
    group.attrs["margin"] = float(crop["margin"])
    group.attrs["size"] = size
