"""Batched PyTorch replicas of the OpenCV CPU primitives that DualTVL1 is built from.

Each function reproduces one OpenCV 5 routine as used by `tvl1flow.cpp` (shared reference
flow.md §1.2), on (B, H, W) float32 tensors on any device: `resize` (INTER_LINEAR, centre
aligned, clamped), `remap_cubic` (INTER_CUBIC, A = −0.75, exact positions, BORDER_CONSTANT 0), `centered_gradient`, `forward_gradient`, `divergence` and `median`
(`medianBlur`, replicated border). tests/test_flow_torch.py checks each against cv2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

CUBIC_A = -0.75  # OpenCV interpolateCubic


def _linear_taps(src: int, dst: int, scale: float, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Lower source index (clamped so index+1 stays inside) and float32 weight of the upper tap.

    Mirrors cv::resize's coefficient set-up: fx = (float)((dx + 0.5)·scale − 0.5); positions
    left of 0 or right of the last sample read the edge sample with weight 0.
    """
    fx = ((torch.arange(dst, dtype=torch.float64) + 0.5) * scale - 0.5).to(torch.float32)
    sx = torch.floor(fx)
    frac = fx - sx
    sx = sx.to(torch.int64)
    frac = torch.where(sx < 0, torch.zeros_like(frac), frac)
    sx = sx.clamp(min=0)
    frac = torch.where(sx >= src - 1, torch.zeros_like(frac), frac)
    sx = sx.clamp(max=src - 1)
    return sx.to(device), frac.to(device)


def resize(images: torch.Tensor, size: tuple[int, int], scale: tuple[float, float] | None = None) -> torch.Tensor:
    """cv::resize INTER_LINEAR of float32 (B, H, W) to `size` = (H', W').

    `scale` = (sy, sx) source pixels per destination pixel; by default H/H' and W/W' (the
    case of an explicit dsize). cv::resize called with fx = fy = f uses 1/f instead, which is
    why the pyramid passes it. Rows are interpolated first, then columns, as in OpenCV.
    """
    height, width = images.shape[-2:]
    out_h, out_w = size
    sy, sx = scale if scale is not None else (1 / (out_h / height), 1 / (out_w / width))
    x0, ax = _linear_taps(width, out_w, sx, images.device)
    y0, ay = _linear_taps(height, out_h, sy, images.device)
    x1 = (x0 + 1).clamp(max=width - 1)
    y1 = (y0 + 1).clamp(max=height - 1)
    rows = images[..., x0] * (1 - ax) + images[..., x1] * ax
    return rows[..., y0, :] * (1 - ay)[:, None] + rows[..., y1, :] * ay[:, None]


def pyramid_sizes(height: int, width: int, nscales: int, scale_step: float) -> list[tuple[int, int]]:
    """Level sizes of DualTVL1's pyramid: round(size·scale_step) per level, stopping below 16 px."""
    sizes = [(height, width)]
    for _ in range(1, nscales):
        h = round(sizes[-1][0] * scale_step)
        w = round(sizes[-1][1] * scale_step)
        if h < 16 or w < 16:
            break
        sizes.append((h, w))
    return sizes


def _cubic_weights(frac: torch.Tensor) -> torch.Tensor:
    """The four OpenCV interpolateCubic coefficients (A = −0.75) of fractional positions, last dim 4."""
    a = CUBIC_A
    x = frac
    c0 = ((a * (x + 1) - 5 * a) * (x + 1) + 8 * a) * (x + 1) - 4 * a
    c1 = ((a + 2) * x - (a + 3)) * x * x + 1
    c2 = ((a + 2) * (1 - x) - (a + 3)) * (1 - x) * (1 - x) + 1
    c3 = 1 - c0 - c1 - c2
    return torch.stack([c0, c1, c2, c3], dim=-1)


def remap_cubic(images: torch.Tensor, map_x: torch.Tensor, map_y: torch.Tensor) -> torch.Tensor:
    """cv::remap INTER_CUBIC, BORDER_CONSTANT 0, of (B, C, H, W) at float positions (B, H, W).

    Positions are used exactly: measured with opencv-contrib 5.0.0.93, `cv2.remap` with
    float32 maps does not round them to 1/32 px (4.x did; shared reference flow.md §1.2 still
    says so). Taps outside the image contribute 0. Weights and sums are evaluated in float64
    and rounded once: TV-L1 amplifies warp rounding from warp to warp, and OpenCV's result
    is within 2 float32 ulp of the exact value, where a float32 evaluation is not.
    """
    batch, channels, height, width = images.shape
    dtype = images.dtype
    images, map_x, map_y = images.double(), map_x.double(), map_y.double()
    ix = torch.floor(map_x)
    iy = torch.floor(map_y)
    wx = _cubic_weights(map_x - ix)  # (B, H, W, 4)
    wy = _cubic_weights(map_y - iy)
    offsets = torch.arange(-1, 3, device=images.device, dtype=ix.dtype)
    cols = ix.unsqueeze(-1) + offsets  # (B, H, W, 4)
    rows = iy.unsqueeze(-1) + offsets
    col_ok = (cols >= 0) & (cols < width)
    row_ok = (rows >= 0) & (rows < height)
    cols = cols.clamp(0, width - 1).to(torch.int64)
    rows = rows.clamp(0, height - 1).to(torch.int64)
    wx = wx * col_ok
    wy = wy * row_ok
    flat = images.reshape(batch, channels, height * width)
    out = torch.zeros((batch, channels, *map_x.shape[1:]), dtype=images.dtype, device=images.device)
    for i in range(4):
        line = torch.zeros_like(out)
        for j in range(4):
            index = (rows[..., i] * width + cols[..., j]).reshape(batch, 1, -1).expand(-1, channels, -1)
            taps = torch.gather(flat, 2, index).reshape(out.shape)
            line = line + taps * wx[..., j].unsqueeze(1)
        out = out + line * wy[..., i].unsqueeze(1)
    return out.to(dtype)


def centered_gradient(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """0.5·(f[x+1] − f[x−1]) along x and y; 0.5 × the one-sided difference at the borders."""
    padded = F.pad(images.unsqueeze(1), (1, 1, 1, 1), mode="replicate").squeeze(1)
    dx = 0.5 * (padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2])
    dy = 0.5 * (padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1])
    return dx, dy


def forward_gradient(field: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences along x and y; 0 on the last column (x) and last row (y)."""
    dx = F.pad(field[..., :, 1:] - field[..., :, :-1], (0, 1))
    dy = F.pad(field[..., 1:, :] - field[..., :-1, :], (0, 0, 0, 1))
    return dx, dy


def divergence(px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Backward-difference divergence with p = 0 outside row 0 and column 0 (OpenCV's scheme)."""
    return (px - F.pad(px[..., :, :-1], (1, 0))) + (py - F.pad(py[..., :-1, :], (0, 0, 1, 0)))


def median(field: torch.Tensor, size: int) -> torch.Tensor:
    """size×size median with replicated borders (cv::medianBlur on float32: size 3 or 5)."""
    if size not in (3, 5):
        raise ValueError(f"median_filtering must be 1, 3 or 5 for float flow (as in OpenCV), got {size}")
    height, width = field.shape[-2:]
    half = size // 2
    padded = F.pad(field.unsqueeze(1), (half, half, half, half), mode="replicate")
    patches = F.unfold(padded, kernel_size=size)  # (B, size², H·W)
    return patches.median(dim=1).values.reshape(field.shape[0], height, width)


def scaled_epsilon(epsilon: float, height: int, width: int) -> float:
    """OpenCV's stopping threshold ε²·area, rounded to float32 as in procOneScale."""
    return float(torch.tensor(epsilon * epsilon * height * width, dtype=torch.float32))
