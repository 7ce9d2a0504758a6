"""Facial action units as Gaussian displacement bumps anchored at the 5 MTCNN landmarks.

Geometry is written in a face frame: origin at the eye midpoint, unit length = inter-ocular
distance (IOD), axis `out` pointing away from the face midline on the bump's side and axis
`down` pointing to the chin. Each AU moves its region in its own direction, so the
emotions built from them differ in where and which way the face moves between onset and apex.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mer.synth.field import Bump

LEFT_EYE, RIGHT_EYE, NOSE, LEFT_MOUTH, RIGHT_MOUTH = range(5)


@dataclass(frozen=True)
class BumpSpec:
    """One bump of an AU, relative to an anchor; `bilateral` bumps appear on both face halves.

    anchor: "eye", "nose", "mouth_corner" or "mouth" (the midpoint of the mouth corners).
    offset, direction: (out, down) in the face frame; offset and sigma (along `out`, along
    `down`) in IOD units; direction is normalised when the bump is placed.
    """

    anchor: str
    offset: tuple[float, float]
    sigma: tuple[float, float]
    direction: tuple[float, float]
    bilateral: bool = True


ACTION_UNITS: dict[int, tuple[BumpSpec, ...]] = {
    1: (BumpSpec("eye", (-0.15, -0.42), (0.16, 0.12), (0.0, -1.0)),),  # inner brow raiser
    2: (BumpSpec("eye", (0.22, -0.38), (0.16, 0.12), (0.0, -1.0)),),  # outer brow raiser
    4: (BumpSpec("eye", (-0.12, -0.38), (0.18, 0.12), (-0.45, 0.9)),),  # brow lowerer
    5: (BumpSpec("eye", (0.0, -0.12), (0.14, 0.06), (0.0, -1.0)),),  # upper lid raiser
    6: (BumpSpec("eye", (0.05, 0.38), (0.22, 0.16), (0.15, -1.0)),),  # cheek raiser
    7: (BumpSpec("eye", (0.0, 0.1), (0.15, 0.06), (0.0, -1.0)),),  # lid tightener
    9: (BumpSpec("nose", (0.12, -0.3), (0.1, 0.16), (0.0, -1.0)),),  # nose wrinkler
    10: (BumpSpec("mouth", (0.15, -0.14), (0.14, 0.1), (0.0, -1.0)),),  # upper lip raiser
    12: (BumpSpec("mouth_corner", (0.0, 0.0), (0.14, 0.11), (0.75, -0.66)),),  # lip corner puller
    14: (BumpSpec("mouth_corner", (0.06, 0.0), (0.1, 0.1), (1.0, 0.0)),),  # dimpler
    15: (BumpSpec("mouth_corner", (0.0, 0.04), (0.13, 0.12), (0.2, 1.0)),),  # lip corner depressor
    17: (BumpSpec("mouth", (0.0, 0.45), (0.3, 0.16), (0.0, -1.0), bilateral=False),),  # chin raiser
    20: (BumpSpec("mouth_corner", (0.04, 0.0), (0.14, 0.1), (1.0, 0.25)),),  # lip stretcher
    24: (  # lip pressor: the lips press together
        BumpSpec("mouth", (0.0, -0.07), (0.3, 0.06), (0.0, 1.0), bilateral=False),
        BumpSpec("mouth", (0.0, 0.09), (0.3, 0.06), (0.0, -1.0), bilateral=False),
    ),
}


def parse_action_units(text: str) -> list[int]:
    """'1+2' → [1, 2] (CASME II's 'Action Units' notation)."""
    return [int(part) for part in text.split("+")]


def _anchor(landmarks: np.ndarray, anchor: str, side: int) -> np.ndarray:
    """Anchor point for a bump on `side` (-1: smaller image x, +1: larger, 0: midline)."""
    if anchor == "eye":
        return landmarks[LEFT_EYE if side < 0 else RIGHT_EYE]
    if anchor == "mouth_corner":
        return landmarks[LEFT_MOUTH if side < 0 else RIGHT_MOUTH]
    if anchor == "nose":
        return landmarks[NOSE]
    return 0.5 * (landmarks[LEFT_MOUTH] + landmarks[RIGHT_MOUTH])


def au_bumps(action_units: list[int], landmarks: np.ndarray, rng: np.random.Generator) -> list[Bump]:
    """Bumps of the AUs placed on a face, with unit-scale vectors times a random weight.

    Each AU gets a weight in [0.7, 1] and each side a factor in [0.85, 1] (faces are never
    perfectly symmetric); the caller scales all vectors to the clip's amplitude.
    """
    left, right = landmarks[LEFT_EYE], landmarks[RIGHT_EYE]
    iod = float(np.hypot(*(right - left)))
    ex = (right - left) / iod
    ey = np.array([-ex[1], ex[0]])
    angle = math.atan2(ex[1], ex[0])
    bumps: list[Bump] = []
    for unit in action_units:
        weight = rng.uniform(0.7, 1.0)
        for spec in ACTION_UNITS[unit]:
            for side in (-1, 1) if spec.bilateral else (0,):
                centre = _anchor(landmarks, spec.anchor, side) + iod * (
                    side * spec.offset[0] * ex + spec.offset[1] * ey
                )
                direction = side * spec.direction[0] * ex + spec.direction[1] * ey
                direction = direction / np.hypot(*direction)
                scale = weight * (rng.uniform(0.85, 1.0) if side else 1.0)
                bumps.append(
                    {
                        "au": unit,
                        "center": [float(centre[0]), float(centre[1])],
                        "sigma": [spec.sigma[0] * iod, spec.sigma[1] * iod],
                        "angle": angle,
                        "vector": [float(scale * direction[0]), float(scale * direction[1])],
                    }
                )
    return bumps
