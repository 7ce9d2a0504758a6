"""Flow as colour: the Middlebury colour coding (Baker et al., IJCV 2011) and its wheel legend.

Direction sets the hue, read off a wheel of 55 colours built from six linear ramps between
the primaries and secondaries, red → yellow → green → cyan → blue → magenta → red, with
15, 6, 4, 11, 13 and 6 steps (the published segment lengths, chosen so that equal angles
look about equally different). Magnitude, divided by a normalising radius, sets the
saturation: 0 is white, the radius gives the pure wheel colour, and anything beyond it is
drawn at 75% brightness. The angle is measured as in the Middlebury code, atan2(−v, −u), so
flow to the right (+x) is red and flow downwards (+y, image rows) is orange–yellow. Pixels
with no finite flow are black.
"""

from __future__ import annotations

import numpy as np

SEGMENTS = (15, 6, 4, 11, 13, 6)  # RY, YG, GC, CB, BM, MR
OUT_OF_RANGE = 0.75  # brightness of magnitudes beyond the normalising radius


def colour_wheel() -> np.ndarray:
    """The 55 wheel colours as float64 (55, 3) RGB on 0–255, starting at pure red."""
    colours = []
    # (channel held at 255, channel that ramps, ramp up or down) for each segment
    for (held, ramp, rising), steps in zip(
        ((0, 1, True), (1, 0, False), (1, 2, True), (2, 1, False), (2, 0, True), (0, 2, False)), SEGMENTS, strict=True
    ):
        ramp_values = np.floor(255 * np.arange(steps) / steps)
        block = np.zeros((steps, 3))
        block[:, held] = 255
        block[:, ramp] = ramp_values if rising else 255 - ramp_values
        colours.append(block)
    return np.concatenate(colours)


def flow_to_rgb(flow: np.ndarray, max_radius: float | None = None) -> np.ndarray:
    """uint8 RGB (H, W, 3) of a (2, H, W) flow (u along x, v along y).

    `max_radius` (px) is the magnitude drawn fully saturated; by default the largest finite
    magnitude in `flow` (a zero flow is drawn white). Pass one radius to several flows to
    make their colours comparable.
    """
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 3 or flow.shape[0] != 2:
        raise ValueError(f"flow must have shape (2, H, W), got {flow.shape}")
    known = np.isfinite(flow).all(axis=0)
    u, v = (np.where(known, component, 0.0) for component in flow)
    magnitude = np.hypot(u, v)
    if max_radius is None:
        max_radius = float(magnitude.max()) if magnitude.size else 0.0
    if not max_radius > 0:
        max_radius = 1.0
    radius = magnitude / max_radius
    wheel = colour_wheel() / 255
    count = len(wheel)
    position = (np.arctan2(-v, -u) / np.pi + 1) / 2 * (count - 1)
    lower = np.floor(position).astype(np.int64)
    upper = (lower + 1) % count
    weight = (position - lower)[..., None]
    colour = (1 - weight) * wheel[lower] + weight * wheel[upper]
    inside = (radius <= 1)[..., None]
    colour = np.where(inside, 1 - radius[..., None] * (1 - colour), colour * OUT_OF_RANGE)
    rgb = np.floor(255 * colour).astype(np.uint8)
    rgb[~known] = 0
    return rgb


def wheel_legend(size: int = 101) -> np.ndarray:
    """uint8 RGB (size, size, 3) legend: the colour of every flow up to the normalising radius,
    centre = zero flow, right = +x, down = +y; white outside the disc."""
    centre = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    flow = np.stack([x - centre, y - centre]) / centre
    rgb = flow_to_rgb(flow, max_radius=1.0)
    rgb[np.hypot(*flow) > 1] = 255
    return rgb
