"""Flow backends by name (params `flow.backend`), so new ones register without branching.

A backend maps uint8 (B, H, W) frames0, frames1 and the flow.tvl1 parameters to float32
(B, 2, H, W) flow on the host. `auto` is resolved by `choose`: the torch engine where a CUDA
device is present, OpenCV otherwise, because on the CPU OpenCV measured faster than the
eager torch engine (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mer import __version__
from mer.flow import opencv
from mer.flow.tvl1 import tvl1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backend:
    """A batched flow function (frames0, frames1, tvl1 params, device) and its label for caches."""

    compute: Callable[[np.ndarray, np.ndarray, dict[str, Any], str], np.ndarray]
    label: str


def _opencv_batch(frames0: np.ndarray, frames1: np.ndarray, params: dict[str, Any], device: str) -> np.ndarray:
    """OpenCV DualTVL1 pair by pair on one thread (`device` must be cpu)."""
    if device != "cpu":
        raise ValueError(f"the opencv flow backend runs on the CPU only, not on {device!r}")
    return np.stack([opencv.tvl1_opencv(a, b, params) for a, b in zip(frames0, frames1, strict=True)])


def _torch_batch(frames0: np.ndarray, frames1: np.ndarray, params: dict[str, Any], device: str) -> np.ndarray:
    """The torch engine on `device`, all pairs in one batch."""
    return tvl1(frames0, frames1, device=device, **params).cpu().numpy()


BACKENDS: dict[str, Backend] = {
    "opencv": Backend(compute=_opencv_batch, label=opencv.LABEL),
    "torch": Backend(compute=_torch_batch, label=f"mer {__version__} torch {torch.__version__} TV-L1"),
}


def get(name: str) -> Backend:
    """The backend registered as `name`; ValueError listing the known ones otherwise."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown flow backend {name!r}; known: {', '.join(sorted(BACKENDS))}") from None


def choose(name: str, device: str, params: dict[str, Any]) -> tuple[str, str]:
    """Resolve params flow.backend and flow.device ('auto' allowed in both) to concrete names.

    auto device: cuda when available, else cpu. auto backend: torch on cuda, opencv on cpu
    (OpenCV measured faster than the eager torch engine on the CPU); the choice is logged.
    `params` (flow.tvl1) with gamma > 0, which the torch engine does not implement, also
    send auto to OpenCV; a `variant` other than opencv (IPOL), which OpenCV does not
    implement, sends auto to torch on any device.
    """
    resolved_device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    if name != "auto":
        return name, resolved_device
    opencv_only = float(params.get("gamma", 0.0)) != 0.0
    torch_only = params.get("variant", "opencv") != "opencv"  # OpenCV does not implement IPOL's scheme
    chosen = "torch" if torch_only or (resolved_device != "cpu" and not opencv_only) else "opencv"
    log.info("flow.backend auto -> %s on %s", chosen, resolved_device)
    return chosen, resolved_device if chosen == "torch" else "cpu"
