"""Batched TV-L1 optical flow in PyTorch: OpenCV contrib's CPU DualTVL1, or the IPOL variant.

The solver is the Zach–Pock–Bischof dual scheme as OpenCV's `tvl1flow.cpp` runs it (shared
reference flow.md §1.2–1.3; docs/flow.md): a coarse-to-fine pyramid, flow carried to the
next finer level and scaled by 1/scale_step, dual variables reset per level, the centred
gradient of frame1 once per level, `warps` re-linearisations per level, a
`median_filtering` median at the start of every outer iteration, and the stopping rule
(mean squared update < ε²) evaluated for every pair after every iteration.

What differs between OpenCV and the IPOL reference code (Sánchez Pérez et al. 2013; flow.md
§3, §4.1) is a `Variant` in the `VARIANTS` registry: intensity preparation, pyramid sizes,
down- and up-sampling, the warp's kernel and border, and the TH step's zero-gradient guard.
`PRESETS` pairs each variant with its reference defaults: `tvl1(a, b)` is OpenCV's
DualTVL1 with its defaults, `tvl1(a, b, preset="ipol")` the IPOL program with its defaults
(nscales 100 capped by image size, zfactor 0.5, 300 iterations per warp, no median).

Pairs are independent: a per-pair mask freezes a pair once it would have stopped, so a
pair's flow does not depend on the rest of its batch. On accelerators the loop runs to its
iteration cap with no host synchronisation; on the CPU (where reading the mask costs no
device sync) it leaves a warp early once every pair has stopped. Both give the same flow.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch

from mer.flow import ops

FLT_EPSILON = float(np.finfo(np.float32).eps)  # OpenCV's guard on |∇I1w|² in the TH step
GRAD_IS_ZERO = 1e-10  # IPOL's guard
IPOL_PRESMOOTHING = 0.8  # PRESMOOTHING_SIGMA of tvl1flow_lib.c


@dataclass(frozen=True)
class Variant:
    """The steps in which the OpenCV and IPOL implementations differ (flow.md §4.1).

    prepare: the finest frames of each pair before the pyramid; pyramid: level sizes from
    (height, width, nscales, scale_step); shrink: a level to the next coarser size; enlarge:
    a flow component to the next finer size (before the 1/scale_step factor); warp: frame1 and
    its gradient (B, 3, H, W) sampled at x + u; grad_floor: |∇I1w|² at or below which TH
    leaves u unchanged.
    """

    prepare: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
    pyramid: Callable[[int, int, int, float], list[tuple[int, int]]]
    shrink: Callable[[torch.Tensor, tuple[int, int], float], torch.Tensor]
    enlarge: Callable[[torch.Tensor, tuple[int, int]], torch.Tensor]
    warp: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
    grad_floor: float


def _unchanged(image0: torch.Tensor, image1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return image0, image1


def _ipol_prepare(image0: torch.Tensor, image1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint [0, 255] normalisation, then the σ = 0.8 pre-smoothing of both frames."""
    image0, image1 = ops.ipol_normalise(image0, image1)
    return ops.ipol_gaussian(image0, IPOL_PRESMOOTHING), ops.ipol_gaussian(image1, IPOL_PRESMOOTHING)


def _opencv_shrink(images: torch.Tensor, size: tuple[int, int], scale_step: float) -> torch.Tensor:
    return ops.resize(images, size, (1 / scale_step, 1 / scale_step))


def _ipol_warp(stack: torch.Tensor, map_x: torch.Tensor, map_y: torch.Tensor) -> torch.Tensor:
    return ops.ipol_bicubic(stack, map_x, map_y, border_out=True)


VARIANTS: dict[str, Variant] = {
    "opencv": Variant(_unchanged, ops.pyramid_sizes, _opencv_shrink, ops.resize, ops.remap_cubic, FLT_EPSILON),
    "ipol": Variant(
        _ipol_prepare, ops.ipol_pyramid_sizes, ops.ipol_zoom_out, ops.ipol_zoom_in, _ipol_warp, GRAD_IS_ZERO
    ),
}


@dataclass(frozen=True)
class TVL1Params:
    """DualTVL1 parameters under OpenCV's names, with OpenCV's defaults, plus the `variant`.

    The IPOL program's own parameters map onto these: zfactor = scale_step, nwarps = warps,
    MAX_ITERATIONS = inner_iterations × outer_iterations with median_filtering 1.
    """

    tau: float = 0.25
    lambda_: float = 0.15
    theta: float = 0.3
    nscales: int = 5
    warps: int = 5
    epsilon: float = 0.01
    inner_iterations: int = 30
    outer_iterations: int = 10
    scale_step: float = 0.8
    gamma: float = 0.0
    median_filtering: int = 5
    variant: str = "opencv"

    def __post_init__(self) -> None:
        if self.gamma != 0.0:
            raise ValueError(
                "the torch TV-L1 engine has no illumination term: gamma must be 0 (use the opencv backend)"
            )
        if self.median_filtering not in (1, 3, 5):
            raise ValueError(f"median_filtering must be 1, 3 or 5, got {self.median_filtering}")
        if min(self.nscales, self.warps, self.inner_iterations, self.outer_iterations) < 1:
            raise ValueError("nscales, warps, inner_iterations and outer_iterations must be >= 1")
        if not 0.0 < self.scale_step < 1.0:
            raise ValueError(f"scale_step must lie in (0, 1), got {self.scale_step}")
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown TV-L1 variant {self.variant!r}; known: {', '.join(sorted(VARIANTS))}")

    @classmethod
    def from_mapping(cls, params: dict[str, Any], preset: str = "opencv") -> TVL1Params:
        """`preset`'s parameters overridden by a flow.tvl1-style mapping; unknown keys raise TypeError."""
        if preset not in PRESETS:
            raise ValueError(f"unknown TV-L1 preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
        names = {field.name for field in fields(cls)}
        unknown = set(params) - names
        if unknown:
            raise TypeError(f"unknown TV-L1 parameters: {sorted(unknown)}")
        return cls(**{**PRESETS[preset], **params})

    def as_dict(self) -> dict[str, Any]:
        """Plain dict, for cache attributes and benchmark JSON."""
        return asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    "opencv": {},  # OpenCV DualTVL1_create's defaults, the dataclass defaults
    # IPOL main.c defaults: nscales 100 (capped by image size), zfactor 0.5, nwarps 5, ε 0.01,
    # MAX_ITERATIONS 300 per warp with no inner/outer split and no median filter.
    "ipol": {
        "variant": "ipol",
        "nscales": 100,
        "scale_step": 0.5,
        "inner_iterations": 300,
        "outer_iterations": 1,
        "median_filtering": 1,
    },
}


def as_batch(frames: Any, device: torch.device | str | None) -> torch.Tensor:
    """(B, H, W) float32 tensor on 0–255 from (H, W) or (B, H, W) uint8 or float input."""
    tensor = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(frames))
    if tensor.ndim == 2:
        tensor = tensor.unsqueeze(0)
    if tensor.ndim != 3:
        raise ValueError(f"frames must have shape (H, W) or (B, H, W), got {tuple(tensor.shape)}")
    if not (tensor.dtype == torch.uint8 or tensor.is_floating_point()):
        raise ValueError(f"frames must be uint8 or float on the 0-255 scale, got {tensor.dtype}")
    return tensor.to(device=device if device is not None else tensor.device, dtype=torch.float32)


def tvl1(
    frame0: Any,
    frame1: Any,
    device: torch.device | str | None = None,
    preset: str = "opencv",
    compiled: bool = False,
    **params: Any,
) -> torch.Tensor:
    """TV-L1 flow from frame0 to frame1 as float32 (B, 2, H, W) = (u along x, v along y).

    Convention (OpenCV's): frame0(x) ≈ frame1(x + flow(x)). Frames are (H, W) or (B, H, W),
    uint8 or float on the 0–255 scale (no ×255 for float, unlike OpenCV), numpy or torch;
    the computation runs on `device` (default: frame0's device). `preset` ('opencv' or
    'ipol', `PRESETS`) gives the variant and its reference defaults; `params` are
    `TVL1Params` fields that override them. `compiled` runs the iteration through
    torch.compile (same flow; first call compiles for tens of seconds, docs/flow.md).
    """
    settings = TVL1Params.from_mapping(params, preset)
    variant = VARIANTS[settings.variant]
    image0 = as_batch(frame0, device)
    image1 = as_batch(frame1, image0.device)
    if image0.shape != image1.shape:
        raise ValueError(f"frames differ in shape: {tuple(image0.shape)} vs {tuple(image1.shape)}")
    height, width = image0.shape[-2:]
    sizes = variant.pyramid(height, width, settings.nscales, settings.scale_step)
    levels = [variant.prepare(image0, image1)]
    for size in sizes[1:]:
        previous0, previous1 = levels[-1]
        step = settings.scale_step
        levels.append((variant.shrink(previous0, size, step), variant.shrink(previous1, size, step)))
    flow = torch.zeros((image0.shape[0], 2, *sizes[-1]), dtype=torch.float32, device=image0.device)
    for level in range(len(sizes) - 1, -1, -1):
        flow = _solve_level(*levels[level], flow, settings, variant, compiled)
        if level:
            upsampled = variant.enlarge(flow.flatten(0, 1), sizes[level - 1]).unflatten(0, flow.shape[:2])
            flow = upsampled * (1 / settings.scale_step)
    return flow


def _solve_level(
    image0: torch.Tensor,
    image1: torch.Tensor,
    flow: torch.Tensor,
    settings: TVL1Params,
    variant: Variant,
    compiled: bool,
) -> torch.Tensor:
    """OpenCV's procOneScale (IPOL's Dual_TVL1_optic_flow) for a batch: `warps` warps of at
    most inner × outer iterations."""
    batch, height, width = image0.shape
    epsilon = ops.scaled_epsilon(settings.epsilon, height, width)
    threshold = torch.tensor(epsilon, dtype=torch.float64, device=image0.device)
    l_t = float(np.float32(settings.lambda_ * settings.theta))
    taut = float(np.float32(settings.tau / settings.theta))
    theta = float(np.float32(settings.theta))
    step_function = _compiled_iterate() if compiled else _iterate

    def iterate(*state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return step_function(*state, l_t, taut, theta)

    grad_x, grad_y = ops.centered_gradient(image1)
    stack = torch.stack([image1, grad_x, grad_y], dim=1)
    cols = torch.arange(width, dtype=torch.float32, device=image0.device)
    rows = torch.arange(height, dtype=torch.float32, device=image0.device)[:, None]
    u1, u2 = flow[:, 0].contiguous(), flow[:, 1].contiguous()  # same strides every call: no recompiles
    p11, p12, p21, p22 = (torch.zeros_like(image0) for _ in range(4))
    stop_early = image0.device.type == "cpu"
    for _ in range(settings.warps):
        i1w, i1wx, i1wy = variant.warp(stack, cols + u1, rows + u2).unbind(1)
        grad = i1wx * i1wx + i1wy * i1wy
        rho_c = i1w - i1wx * u1 - i1wy * u2 - image0
        lambda_grad = l_t * grad
        has_gradient = grad > variant.grad_floor
        safe_grad = torch.where(has_gradient, grad, torch.ones_like(grad))
        active = torch.ones((batch, 1, 1), dtype=torch.bool, device=image0.device)
        for step in range(settings.inner_iterations * settings.outer_iterations):
            if stop_early and not bool(active.any()):
                break
            if step % settings.inner_iterations == 0 and settings.median_filtering > 1:
                u1 = torch.where(active, ops.median(u1, settings.median_filtering), u1)
                u2 = torch.where(active, ops.median(u2, settings.median_filtering), u2)
            u1, u2, p11, p12, p21, p22, active = iterate(
                u1, u2, p11, p12, p21, p22, active, i1wx, i1wy, rho_c, lambda_grad, has_gradient, safe_grad, threshold
            )
    return torch.stack([u1, u2], dim=1)


def _iterate(
    u1: torch.Tensor,
    u2: torch.Tensor,
    p11: torch.Tensor,
    p12: torch.Tensor,
    p21: torch.Tensor,
    p22: torch.Tensor,
    active: torch.Tensor,
    i1wx: torch.Tensor,
    i1wy: torch.Tensor,
    rho_c: torch.Tensor,
    lambda_grad: torch.Tensor,
    has_gradient: torch.Tensor,
    safe_grad: torch.Tensor,
    threshold: torch.Tensor,
    l_t: float,
    taut: float,
    theta: float,
) -> tuple[torch.Tensor, ...]:
    """One iteration for every pair still `active`: TH step, divergence, u update, forward
    gradient, dual projection; returns u1, u2, p11, p12, p21, p22 and the mask after OpenCV's
    stopping test (Σ|Δu|² > threshold, summed in float64)."""
    rho = rho_c + (i1wx * u1 + i1wy * u2)
    scale = torch.where(
        rho < -lambda_grad,
        l_t,
        torch.where(rho > lambda_grad, -l_t, torch.where(has_gradient, -rho / safe_grad, 0.0)),
    )
    new_u1 = (u1 + scale * i1wx) + theta * ops.divergence(p11, p12)
    new_u2 = (u2 + scale * i1wy) + theta * ops.divergence(p21, p22)
    error = ((new_u1 - u1).square() + (new_u2 - u2).square()).sum(dim=(1, 2), keepdim=True, dtype=torch.float64)
    u1 = torch.where(active, new_u1, u1)
    u2 = torch.where(active, new_u2, u2)
    u1x, u1y = ops.forward_gradient(u1)
    u2x, u2y = ops.forward_gradient(u2)
    norm1 = 1 + taut * torch.hypot(u1x, u1y)
    norm2 = 1 + taut * torch.hypot(u2x, u2y)
    p11 = torch.where(active, (p11 + taut * u1x) / norm1, p11)
    p12 = torch.where(active, (p12 + taut * u1y) / norm1, p12)
    p21 = torch.where(active, (p21 + taut * u2x) / norm2, p21)
    p22 = torch.where(active, (p22 + taut * u2y) / norm2, p22)
    return u1, u2, p11, p12, p21, p22, active & (error > threshold)


@functools.cache
def _compiled_iterate() -> Callable[..., tuple[torch.Tensor, ...]]:
    """`_iterate` through torch.compile (Inductor: fused C++/OpenMP loops on the CPU, Triton on
    CUDA), built on first use, with dynamic shapes so every pyramid level and batch size shares
    one compilation. The eager `_iterate` stays the reference (tests/test_flow_torch.py)."""
    return torch.compile(_iterate, dynamic=True)
