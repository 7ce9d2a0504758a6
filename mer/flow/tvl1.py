"""Batched TV-L1 optical flow in PyTorch, reproducing OpenCV contrib's CPU DualTVL1.

The algorithm is OpenCV's `tvl1flow.cpp` step for step (shared reference flow.md §1.2–1.3;
docs/flow.md): an unsmoothed INTER_LINEAR pyramid with ratio `scale_step` stopping below
16 px, flow upsampled and scaled by 1/scale_step between levels, dual variables reset per
level, the centred gradient of frame1 once per level, cubic (A = −0.75) warps with a zero
border, a `median_filtering` median at the start of every outer iteration, and OpenCV's
stopping rule (mean squared update < ε²) evaluated for every pair after every iteration.

Pairs are independent: a per-pair mask freezes a pair once OpenCV would have stopped it,
so a pair's flow does not depend on the rest of its batch. On accelerators the loop runs to
its iteration cap with no host synchronisation; on the CPU (where reading the mask costs no
device sync) it leaves a warp early once every pair has stopped. Both give the same flow.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch

from mer.flow import ops

FLT_EPSILON = float(np.finfo(np.float32).eps)  # OpenCV's guard on |∇I1w|² in the TH step


@dataclass(frozen=True)
class TVL1Params:
    """OpenCV DualTVL1 parameters under their OpenCV names, with OpenCV's defaults."""

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

    def __post_init__(self) -> None:
        if self.gamma != 0.0:
            raise ValueError("the torch TV-L1 engine has no illumination term: gamma must be 0 (use the opencv backend)")
        if self.median_filtering not in (1, 3, 5):
            raise ValueError(f"median_filtering must be 1, 3 or 5, got {self.median_filtering}")
        if min(self.nscales, self.warps, self.inner_iterations, self.outer_iterations) < 1:
            raise ValueError("nscales, warps, inner_iterations and outer_iterations must be >= 1")
        if not 0.0 < self.scale_step < 1.0:
            raise ValueError(f"scale_step must lie in (0, 1), got {self.scale_step}")

    @classmethod
    def from_mapping(cls, params: dict[str, Any]) -> TVL1Params:
        """Parameters from a flow.tvl1-style mapping; unknown keys raise TypeError."""
        names = {field.name for field in fields(cls)}
        unknown = set(params) - names
        if unknown:
            raise TypeError(f"unknown TV-L1 parameters: {sorted(unknown)}")
        return cls(**params)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict, for cache attributes and benchmark JSON."""
        return asdict(self)


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


def tvl1(frame0: Any, frame1: Any, device: torch.device | str | None = None, **params: Any) -> torch.Tensor:
    """TV-L1 flow from frame0 to frame1 as float32 (B, 2, H, W) = (u along x, v along y).

    Convention (OpenCV's): frame0(x) ≈ frame1(x + flow(x)). Frames are (H, W) or (B, H, W),
    uint8 or float on the 0–255 scale (no ×255 for float, unlike OpenCV), numpy or torch;
    the computation runs on `device` (default: frame0's device). `params` are `TVL1Params`
    fields; omitted ones take OpenCV's defaults.
    """
    settings = TVL1Params.from_mapping(params)
    image0 = as_batch(frame0, device)
    image1 = as_batch(frame1, image0.device)
    if image0.shape != image1.shape:
        raise ValueError(f"frames differ in shape: {tuple(image0.shape)} vs {tuple(image1.shape)}")
    height, width = image0.shape[-2:]
    sizes = ops.pyramid_sizes(height, width, settings.nscales, settings.scale_step)
    shrink = (1 / settings.scale_step, 1 / settings.scale_step)
    levels = [(image0, image1)]
    for size in sizes[1:]:
        previous0, previous1 = levels[-1]
        levels.append((ops.resize(previous0, size, shrink), ops.resize(previous1, size, shrink)))
    flow = torch.zeros((image0.shape[0], 2, *sizes[-1]), dtype=torch.float32, device=image0.device)
    for level in range(len(sizes) - 1, -1, -1):
        flow = _solve_level(*levels[level], flow, settings)
        if level:
            upsampled = ops.resize(flow.flatten(0, 1), sizes[level - 1]).unflatten(0, flow.shape[:2])
            flow = upsampled * (1 / settings.scale_step)
    return flow


def _solve_level(image0: torch.Tensor, image1: torch.Tensor, flow: torch.Tensor, settings: TVL1Params) -> torch.Tensor:
    """OpenCV's procOneScale for a batch: `warps` warps of at most inner × outer iterations."""
    batch, height, width = image0.shape
    threshold = ops.scaled_epsilon(settings.epsilon, height, width)
    l_t = float(np.float32(settings.lambda_ * settings.theta))
    taut = float(np.float32(settings.tau / settings.theta))
    theta = float(np.float32(settings.theta))
    grad_x, grad_y = ops.centered_gradient(image1)
    stack = torch.stack([image1, grad_x, grad_y], dim=1)
    cols = torch.arange(width, dtype=torch.float32, device=image0.device)
    rows = torch.arange(height, dtype=torch.float32, device=image0.device)[:, None]
    u1, u2 = flow[:, 0], flow[:, 1]
    p11, p12, p21, p22 = (torch.zeros_like(image0) for _ in range(4))
    stop_early = image0.device.type == "cpu"
    for _ in range(settings.warps):
        i1w, i1wx, i1wy = ops.remap_cubic(stack, cols + u1, rows + u2).unbind(1)
        grad = i1wx * i1wx + i1wy * i1wy
        rho_c = i1w - i1wx * u1 - i1wy * u2 - image0
        lambda_grad = l_t * grad
        safe_grad = torch.where(grad > FLT_EPSILON, grad, torch.ones_like(grad))
        active = torch.ones((batch, 1, 1), dtype=torch.bool, device=image0.device)
        for step in range(settings.inner_iterations * settings.outer_iterations):
            if stop_early and not bool(active.any()):
                break
            if step % settings.inner_iterations == 0 and settings.median_filtering > 1:
                u1 = torch.where(active, ops.median(u1, settings.median_filtering), u1)
                u2 = torch.where(active, ops.median(u2, settings.median_filtering), u2)
            rho = rho_c + (i1wx * u1 + i1wy * u2)
            scale = torch.where(
                rho < -lambda_grad,
                l_t,
                torch.where(rho > lambda_grad, -l_t, torch.where(grad > FLT_EPSILON, -rho / safe_grad, 0.0)),
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
            active = active & (error > threshold)
    return torch.stack([u1, u2], dim=1)
