"""Apex substitutes for corpora that annotate no apex (SMIC, CAS(ME)^3 part C).

A substitute is a named choice recorded in manifest.json, never a silent default:
- `midpoint`: floor((onset + offset) / 2), as MEB does;
- `max_motion`: the frame differing most from the onset frame (mean absolute grey-level
  difference, computed in float; earliest on ties), the label-free flavour of MEAN's and
  CapsuleNet's maximal-response apex.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

import cv2
import numpy as np

from mer.errors import InputDataError

# (onset, offset, frame number -> file) -> apex frame number
Substitute = Callable[[int, int, Callable[[int], Path]], int]


def midpoint(onset: int, offset: int, frame_path: Callable[[int], Path]) -> int:
    """The middle frame of onset..offset (rounded down)."""
    return (onset + offset) // 2


def max_motion(onset: int, offset: int, frame_path: Callable[[int], Path]) -> int:
    """The frame of onset..offset whose grey image differs most from the onset frame."""

    def grey(number: int) -> np.ndarray:
        image = cv2.imread(str(frame_path(number)), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise InputDataError("frame file cannot be decoded", frame=number, path=str(frame_path(number)))
        return image.astype(np.float64)

    reference = grey(onset)
    scores = [float(np.mean(np.abs(grey(n) - reference))) for n in range(onset, offset + 1)]
    return onset + int(np.argmax(scores))


SUBSTITUTES: Mapping[str, Substitute] = MappingProxyType({"midpoint": midpoint, "max_motion": max_motion})
