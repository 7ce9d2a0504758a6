"""Analytic displacement fields: Gaussian bumps, the clip's intensity curve, drift, exact flow.

Conventions (all in frame pixel coordinates, x = column, y = row, arrays shaped (2, H, W)
with channel 0 = x and channel 1 = y, like OpenCV's flow):

* A *bump* is a dict ``{"center": [x, y], "sigma": [s_u, s_v], "angle": a, "vector": [vx, vy]}``;
  its field is ``vector * exp(-(u**2 / s_u**2 + v**2 / s_v**2) / 2)`` with (u, v) the offset
  from the centre rotated by -angle (radians), i.e. an anisotropic Gaussian whose axes are
  turned by ``angle``.
* The *content motion* M_t(x) of a clip at frame t is ``drift(t) + intensity(t) * sum(bumps)``:
  the face point seen at x in frame t sits at ``x - M_t(x)`` in the subject's base image, so
  frame t is rendered as ``base(x - M_t(x))`` (a backward warp with cv2.remap).
* `displacement_field(gt, a, b)` is the exact flow from frame a to frame b in OpenCV's
  convention ``frame_a(x) ≈ frame_b(x + flow(x))`` (as returned by calcOpticalFlowFarneback or
  DualTVL1 for prev=frame_a, next=frame_b). It holds up to interpolation, illumination gain,
  noise and JPEG; for a = onset, b = apex it is the facial motion of the expression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

Bump = dict[str, Any]
FIXED_POINT_ITERATIONS = 30


def bump_field(bumps: Sequence[Bump], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Sum of the bumps' fields at points (x, y) (same shapes); returns (2, *x.shape) float64."""
    out = np.zeros((2, *np.shape(x)), dtype=np.float64)
    for bump in bumps:
        dx = x - bump["center"][0]
        dy = y - bump["center"][1]
        cos, sin = math.cos(bump["angle"]), math.sin(bump["angle"])
        u = (cos * dx + sin * dy) / bump["sigma"][0]
        v = (cos * dy - sin * dx) / bump["sigma"][1]
        weight = np.exp(-0.5 * (u * u + v * v))
        out[0] += bump["vector"][0] * weight
        out[1] += bump["vector"][1] * weight
    return out


def intensity(frame: int, onset: int, apex: int, offset: int) -> float:
    """Raised-cosine expression intensity: 0 outside (onset, offset), 1 at the apex, smooth between."""
    if frame <= onset or frame >= offset:
        return 0.0
    if frame <= apex:
        return 0.5 - 0.5 * math.cos(math.pi * (frame - onset) / (apex - onset))
    return 0.5 + 0.5 * math.cos(math.pi * (frame - apex) / (offset - apex))


def drift(motion: dict[str, Any], frame: int) -> np.ndarray:
    """Global head translation at `frame`: a smooth ramp from 0 (first) to `vector` (last frame)."""
    spec = motion["drift"]
    span = max(spec["last"] - spec["first"], 1)
    tau = min(max((frame - spec["first"]) / span, 0.0), 1.0)
    return np.asarray(spec["vector"], dtype=np.float64) * (0.5 - 0.5 * math.cos(math.pi * tau))


def content_motion(gt: dict[str, Any], frame: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """M_t at points (x, y): where the content seen at x in frame t moved from, as (2, *x.shape)."""
    frames = gt["frames"]
    motion = gt["motion"]
    level = intensity(frame, frames["onset"], frames["apex"], frames["offset"])
    field = level * bump_field(motion["bumps"], x, y) if level else np.zeros((2, *np.shape(x)))
    shift = drift(motion, frame)
    field[0] += shift[0]
    field[1] += shift[1]
    return field


def displacement_field(gt: dict[str, Any], frame_a: int, frame_b: int) -> np.ndarray:
    """Exact flow (2, H, W) float64 from frame_a to frame_b: frame_a(x) ≈ frame_b(x + flow(x)).

    Solves y - M_b(y) = x - M_a(x) for y by fixed-point iteration (the fields are smooth and
    a few pixels large, so it contracts quickly) and returns y - x. `gt` is a clip's ground
    truth dict as written to ground_truth/<subject>/<clip>.json.
    """
    width, height = gt["frame_size"]
    y_grid, x_grid = np.mgrid[0:height, 0:width].astype(np.float64)
    source = np.stack([x_grid, y_grid]) - content_motion(gt, frame_a, x_grid, y_grid)
    target = np.stack([x_grid, y_grid])
    for _ in range(FIXED_POINT_ITERATIONS):
        updated = source + content_motion(gt, frame_b, target[0], target[1])
        change = float(np.max(np.abs(updated - target)))
        target = updated
        if change < 1e-9:
            break
    return target - np.stack([x_grid, y_grid])
