"""Apex spotting: the frame of maximum motion between onset and offset, for corpora without apexes.

SMIC and CAS(ME)^3 Part C give onset and offset only; elsewhere spotting is an option that
ignores the annotated apex. A motion curve m(t) measures how far frame t has moved away from
the neutral face, which both the onset and the offset show. The neutral face at t is the
linear blend of the onset and offset frames, so slow head drift and slow illumination change
over the clip (present in real recordings and in the synthetic twin) cancel instead of
making the last frames look most "moved". The spotted apex is the curve's maximum strictly
between onset and offset, so the rise and the fall are both non-empty. Curves use the uint8
face crops cast to float64 (never uint8 differences, which wrap modulo 256).

Methods (params `keyframes.spotting.method`), registered in `SPOTTERS`; α_t = (t − onset)/(offset − onset):
  frame_difference  m(t) = ‖g_t − ((1 − α_t)·g_onset + α_t·g_offset)‖₂, g = frame scaled to the
                    onset's mean intensity (cancels a global gain such as flicker); fast
  flow_magnitude    m(t) = mean over pixels of |F_t − α_t·F_offset|, F_t = TV-L1 flow(onset → t) on
                    greyscale crops at flow.size; one TV-L1 call per frame: slow, named option
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from mer.errors import InputDataError

MotionCurve = Callable[[np.ndarray, np.ndarray, dict[str, Any]], np.ndarray]


def _blend(numbers: np.ndarray) -> np.ndarray:
    """α_t = (n_t − n_first)/(n_last − n_first) for frame numbers `numbers` (0 for a one-frame clip)."""
    numbers = np.asarray(numbers, dtype=np.float64)
    span = numbers[-1] - numbers[0]
    return (numbers - numbers[0]) / span if span > 0 else np.zeros_like(numbers)


def frame_difference(frames: np.ndarray, numbers: np.ndarray, flow: dict[str, Any]) -> np.ndarray:
    """‖g_t − baseline_t‖₂ for every frame of `frames` (T, ...), first = onset, last = offset; float64.

    g_t is frame t scaled to the first frame's mean intensity; `flow` is unused.
    """
    flat = np.asarray(frames).reshape(len(frames), -1).astype(np.float64)
    means = flat.mean(axis=1, keepdims=True)
    flat = flat * np.divide(means[0], means, out=np.ones_like(means), where=means > 0)
    alpha = _blend(numbers)[:, None]
    diff = flat - ((1 - alpha) * flat[0] + alpha * flat[-1])
    return np.sqrt(np.einsum("ij,ij->i", diff, diff))


def flow_magnitude(frames: np.ndarray, numbers: np.ndarray, flow: dict[str, Any]) -> np.ndarray:
    """Mean |F_t − α_t·F_last| over pixels, F_t = TV-L1 flow from frame 0 to t of uint8 RGB `frames`.

    `flow` is the params section (size, tvl1); crops are converted to greyscale and resized
    to flow.size with INTER_AREA when the crop size differs, as in `mer.flow.cache`.
    """
    from mer.flow.opencv import tvl1_opencv

    size = int(flow["size"])

    def grey(image: np.ndarray) -> np.ndarray:
        out = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
        return out if out.shape == (size, size) else cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA)

    first = grey(frames[0])
    fields = np.zeros((len(frames), 2, size, size))
    for t in range(1, len(frames)):
        fields[t] = tvl1_opencv(first, grey(frames[t]), flow["tvl1"])
    residual = fields - _blend(numbers)[:, None, None, None] * fields[-1]
    return np.hypot(residual[:, 0], residual[:, 1]).mean(axis=(1, 2))


SPOTTERS: dict[str, MotionCurve] = {
    "frame_difference": frame_difference,
    "flow_magnitude": flow_magnitude,
}


@dataclass(frozen=True)
class Spotting:
    """The spotted apex (frame number), the method, and the motion curve over `frame_numbers`."""

    apex: int
    method: str
    frame_numbers: np.ndarray
    curve: np.ndarray


def motion_curve(
    method: str, frames: np.ndarray, numbers: np.ndarray, flow: dict[str, Any] | None = None
) -> np.ndarray:
    """The motion curve of `frames` (T, ...) numbered `numbers`, first = onset, last = offset."""
    if method not in SPOTTERS:
        raise ValueError(f"unknown spotting method {method!r}; expected one of {sorted(SPOTTERS)}")
    return SPOTTERS[method](frames, numbers, flow or {})


def spot_apex(
    frames: np.ndarray,
    frame_numbers: np.ndarray,
    onset: int,
    offset: int,
    method: str = "frame_difference",
    flow: dict[str, Any] | None = None,
) -> Spotting:
    """The frame strictly between `onset` and `offset` that moved most from the neutral face.

    `frames` (T, ...) are the clip's crops and `frame_numbers` (T,) their numbers; only frames
    onset … offset are used. Ties go to the earliest frame. When no frame lies strictly
    between (offset ≤ onset + 1 among the stored frames) the apex is the onset. Raises
    InputDataError (with `frame`) when the onset or offset is not stored.
    """
    numbers = np.asarray(frame_numbers, dtype=np.int64)
    if np.any(np.diff(numbers) <= 0):
        raise ValueError("frame_numbers must be strictly increasing")
    onset, offset = int(onset), int(offset)
    for frame in (onset, offset):
        if frame not in set(numbers.tolist()):
            raise InputDataError("keyframe is missing from the face crops", frame=frame)
    inside = (numbers >= onset) & (numbers <= offset)
    kept = numbers[inside]
    curve = motion_curve(method, np.asarray(frames)[inside], kept, flow)
    candidates = (kept > onset) & (kept < offset)
    if not candidates.any():
        return Spotting(onset, method, kept, curve)
    masked = np.where(candidates, curve, -np.inf)
    return Spotting(int(kept[int(np.argmax(masked))]), method, kept, curve)
