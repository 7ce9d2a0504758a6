"""Flow backends by name (params `flow.backend`), so new ones register without branching."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mer.flow import opencv


@dataclass(frozen=True)
class Backend:
    """A flow function (uint8 (H, W) frame0, frame1, tvl1 params) → float32 (2, H, W) and its label for caches."""

    compute: Callable[[np.ndarray, np.ndarray, dict[str, Any]], np.ndarray]
    label: str


BACKENDS: dict[str, Backend] = {
    "opencv": Backend(compute=opencv.tvl1_opencv, label=opencv.LABEL),
}


def get(name: str) -> Backend:
    """The backend registered as `name`; ValueError listing the known ones otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown flow backend {name!r}; known: {', '.join(sorted(BACKENDS))}") from None
