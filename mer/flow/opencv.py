"""TV-L1 optical flow with OpenCV contrib's CPU DualTVL1, every parameter set explicitly.

Convention: `flow[0]` = u along x (columns), `flow[1]` = v along y (rows), such that
frame0(x) ≈ frame1(x + flow(x)) — OpenCV's own convention, checked by the tests.
OpenCV's CPU path warps with cubic interpolation (A = −0.75), which is only first-order
accurate: a uniform translation is recovered with a bias of up to ~0.047 px that depends on
its sub-pixel part (zero at integer and half-integer shifts).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import metadata
from typing import Any

import cv2
import numpy as np

from mer.errors import ConfigError

LABEL = f"opencv-contrib {metadata.version('opencv-contrib-python-headless')} DualTVL1"


def create_tvl1(params: dict[str, Any]) -> cv2.optflow.DualTVL1OpticalFlow:
    """A DualTVL1 solver with every parameter taken from `params` (the flow.tvl1 section).

    The C++/Python keyword for the inner iterations is spelt `innnerIterations` (three n's).
    OpenCV implements only its own discretisation: a `variant` other than 'opencv' (the IPOL
    one, `mer.flow.tvl1.VARIANTS`) is a ConfigError rather than a silently different flow.
    """
    variant = params.get("variant", "opencv")
    if variant != "opencv":
        raise ConfigError(
            f"flow.tvl1.variant {variant!r} is implemented by the torch backend only (flow.backend: torch)"
        )
    return cv2.optflow.DualTVL1OpticalFlow_create(
        tau=float(params["tau"]),
        lambda_=float(params["lambda_"]),
        theta=float(params["theta"]),
        nscales=int(params["nscales"]),
        warps=int(params["warps"]),
        epsilon=float(params["epsilon"]),
        innnerIterations=int(params["inner_iterations"]),
        outerIterations=int(params["outer_iterations"]),
        scaleStep=float(params["scale_step"]),
        gamma=float(params["gamma"]),
        medianFiltering=int(params["median_filtering"]),
        useInitialFlow=False,
    )


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run OpenCV on one thread inside the block and restore the previous setting after.

    Measured with 5.0.0.93 at 112² and 224²: 1 and 2 threads give bit-identical flow (the
    stopping sum is serial), so this is about not oversubscribing cores when the workflow
    runs one subject per core, and about not relying on that implementation detail.
    """
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def tvl1_opencv(frame0: np.ndarray, frame1: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """TV-L1 flow from `frame0` to `frame1` (uint8 greyscale, same (H, W)) as float32 (2, H, W)."""
    for name, frame in (("frame0", frame0), ("frame1", frame1)):
        if frame.dtype != np.uint8 or frame.ndim != 2:
            raise ValueError(f"{name} must be a 2-D uint8 greyscale image, got {frame.dtype} {frame.shape}")
    if frame0.shape != frame1.shape:
        raise ValueError(f"frames differ in shape: {frame0.shape} vs {frame1.shape}")
    solver = create_tvl1(params)
    with single_thread():
        flow = solver.calc(frame0, frame1, None)
    return np.ascontiguousarray(flow.transpose(2, 0, 1), dtype=np.float32)
