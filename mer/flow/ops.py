"""Batched PyTorch replicas of the primitives the two reference TV-L1 implementations are built from.

OpenCV contrib's CPU DualTVL1 (`tvl1flow.cpp`, shared reference flow.md §1.2): `resize`
(INTER_LINEAR, centre aligned, clamped), `remap_cubic` (INTER_CUBIC, A = −0.75, exact
positions, BORDER_CONSTANT 0), `centered_gradient`, `forward_gradient`, `divergence` and
`median` (`medianBlur`, replicated border); tests/test_flow_torch.py checks each against cv2.

The IPOL reference code (Sánchez Pérez et al. 2013, `mask.c`, `zoom.c`,
`bicubic_interpolation.c`, `tvl1flow_lib.c`, `main.c`; flow.md §3): `ipol_normalise` (joint
min–max to [0, 255]), `ipol_gaussian` (its separable Gaussian and boundary reflection),
`ipol_bicubic` (Keys a = −0.5, Neumann taps, optionally 0 when any tap is outside),
`ipol_pyramid_sizes`, `ipol_zoom_out` and `ipol_zoom_in`. The gradient, divergence and
forward-gradient rules are the same in both. All work on (B, H, W) float32 tensors on any
device; arithmetic the C code does in double is done in float64 and rounded once.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

CUBIC_A = -0.75  # OpenCV interpolateCubic
IPOL_WINDOW = 5  # DEFAULT_GAUSSIAN_WINDOW_SIZE: the kernel has int(5σ) + 1 taps per side, centre included
IPOL_ZOOM_SIGMA = 0.6  # ZOOM_SIGMA_ZERO: σ = 0.6·√(1/z² − 1) before each down-sampling
IPOL_MIN_DIAGONAL = 16.0  # main.c caps the scales so the coarsest diagonal stays >= 16 px


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
    """Backward-difference divergence with p = 0 outside row 0 and column 0 (OpenCV's scheme).

    Column 0 (below row 0) is summed as (px + py) − py[y−1], OpenCV's (and IPOL's) order of
    float operations there, so a single warp reproduces OpenCV bit for bit.
    """
    div = (px - F.pad(px[..., :, :-1], (1, 0))) + (py - F.pad(py[..., :-1, :], (0, 0, 1, 0)))
    first_column = (px[..., 1:, 0] + py[..., 1:, 0]) - py[..., :-1, 0]
    return torch.cat([torch.cat([div[..., :1, :1], first_column.unsqueeze(-1)], dim=-2), div[..., 1:]], dim=-1)


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


# --- IPOL ---------------------------------------------------------------------------------


def ipol_normalise(image0: torch.Tensor, image1: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both frames of each pair mapped jointly to [0, 255] by their common min and max (IPOL
    `image_normalization`); a constant pair is left as it is."""
    low = torch.minimum(image0.amin(dim=(-2, -1), keepdim=True), image1.amin(dim=(-2, -1), keepdim=True))
    high = torch.maximum(image0.amax(dim=(-2, -1), keepdim=True), image1.amax(dim=(-2, -1), keepdim=True))
    span = high - low
    safe = torch.where(span > 0, span, torch.ones_like(span)).double()

    def scale(image: torch.Tensor) -> torch.Tensor:
        scaled = (255.0 * (image - low).double() / safe).to(image.dtype)
        return torch.where(span > 0, scaled, image)

    return scale(image0), scale(image1)


def _ipol_kernel(sigma: float) -> list[float]:
    """The one-sided Gaussian taps B[0..size−1] of IPOL `gaussian`, normalised as there (2ΣB − B[0] = 1)."""
    size = int(IPOL_WINDOW * sigma) + 1
    taps = [1 / (sigma * math.sqrt(2.0 * 3.1415926)) * math.exp(-i * i / (2 * sigma * sigma)) for i in range(size)]
    norm = 0.0
    for tap in taps:
        norm += tap
    norm = norm * 2 - taps[0]
    return [tap / norm for tap in taps]


def _ipol_reflect(length: int, half: int, device: torch.device) -> torch.Tensor:
    """Source index of each padded position −half … length−1+half under IPOL's reflecting boundary:
    −k reads k (edge not repeated), length−1+k reads length−k (edge repeated), as `mask.c` pads."""
    index = torch.arange(-half, length + half, device=device)
    return torch.where(index < 0, -index, torch.where(index >= length, 2 * length - 1 - index, index))


def _ipol_smooth_last(images: torch.Tensor, taps: list[float]) -> torch.Tensor:
    """One pass of IPOL's separable Gaussian along the last axis, summed in float64 in its order."""
    length = images.shape[-1]
    half = len(taps) - 1
    padded = images.double()[..., _ipol_reflect(length, half, images.device)]
    total = taps[0] * padded[..., half : half + length]
    for offset in range(1, len(taps)):
        left = padded[..., half - offset : half - offset + length]
        right = padded[..., half + offset : half + offset + length]
        total = total + taps[offset] * (left + right)
    return total.to(images.dtype)


def ipol_gaussian(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """IPOL `gaussian`: rows then columns, int(5σ) + 1 taps per side, reflecting boundary."""
    taps = _ipol_kernel(sigma)
    if len(taps) > min(images.shape[-2:]):
        raise ValueError(f"IPOL Gaussian of sigma {sigma:.3g} needs images of at least {len(taps)} px per side")
    rows = _ipol_smooth_last(images, taps)
    return _ipol_smooth_last(rows.transpose(-2, -1), taps).transpose(-2, -1)


def _ipol_cell(v0: torch.Tensor, v1: torch.Tensor, v2: torch.Tensor, v3: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """IPOL `cubic_interpolation_cell`: Keys/Catmull-Rom (a = −0.5) through v1, v2 at t in [0, 1)."""
    return v1 + 0.5 * t * (v2 - v0 + t * (2.0 * v0 - 5.0 * v1 + 4.0 * v2 - v3 + t * (3.0 * (v1 - v2) + v3 - v0)))


def ipol_bicubic(images: torch.Tensor, map_x: torch.Tensor, map_y: torch.Tensor, border_out: bool) -> torch.Tensor:
    """IPOL `bicubic_interpolation_at` of (B, C, H, W) images at float positions (B, H', W').

    Taps x−1 … x+2 around x = ⌊position⌋ are clamped to the image (Neumann); with
    `border_out` the sample is 0 as soon as one of the 16 taps was outside, so with zero flow
    the first row and column and the last two rows and columns of a warp are 0. IPOL
    truncates positions towards zero and mirrors the stencil for negative ones; that differs
    from ⌊·⌋ only for negative positions, which give 0 with `border_out` either way and do not
    occur without it (zoom positions are ≥ 0). Interpolated in float64 (y first, then x) and
    rounded once, as the C code does.
    """
    batch, channels, height, width = images.shape
    ix, iy = torch.floor(map_x), torch.floor(map_y)
    tx = (map_x - ix).double().unsqueeze(1)
    ty = (map_y - iy).double().unsqueeze(1)
    offsets = torch.arange(-1, 3, device=images.device, dtype=ix.dtype)
    cols = ix.unsqueeze(-1) + offsets  # (B, H', W', 4)
    rows = iy.unsqueeze(-1) + offsets
    outside = ((cols < 0) | (cols > width - 1)).any(-1) | ((rows < 0) | (rows > height - 1)).any(-1)
    cols = cols.clamp(0, width - 1).to(torch.int64)
    rows = rows.clamp(0, height - 1).to(torch.int64)
    flat = images.double().reshape(batch, channels, height * width)

    def tap(i: int, j: int) -> torch.Tensor:
        index = (rows[..., i] * width + cols[..., j]).reshape(batch, 1, -1).expand(-1, channels, -1)
        return torch.gather(flat, 2, index).reshape(batch, channels, *map_x.shape[1:])

    columns = [_ipol_cell(tap(0, j), tap(1, j), tap(2, j), tap(3, j), ty) for j in range(4)]
    out = _ipol_cell(*columns, tx).to(images.dtype)
    if border_out:
        out = torch.where(outside.unsqueeze(1), torch.zeros_like(out), out)
    return out


def ipol_pyramid_sizes(height: int, width: int, nscales: int, factor: float) -> list[tuple[int, int]]:
    """IPOL's level sizes: int(n·z + 0.5) per level, at most int(1 + log(diagonal/16)/log(1/z)) levels."""
    z = np.float32(factor)
    cap = np.float32(1 + math.log(math.hypot(width, height) / IPOL_MIN_DIAGONAL) / math.log(float(np.float32(1) / z)))
    count = max(1, int(cap)) if cap < nscales else nscales
    sizes = [(height, width)]
    for _ in range(1, count):
        h, w = sizes[-1]
        sizes.append((int(float(np.float32(h) * z) + 0.5), int(float(np.float32(w) * z) + 0.5)))
    return sizes


def _ipol_positions(count: int, factor: np.float32, device: torch.device) -> torch.Tensor:
    """float32 source positions i / factor of IPOL's zoom loops (corner aligned: 0 maps to 0)."""
    return torch.arange(count, dtype=torch.float32, device=device) / float(factor)


def ipol_zoom_out(images: torch.Tensor, size: tuple[int, int], factor: float) -> torch.Tensor:
    """IPOL `zoom_out`: Gaussian σ = 0.6·√(1/z² − 1), then bicubic samples at (i/z, j/z)."""
    z = np.float32(factor)
    sigma = float(np.float32(IPOL_ZOOM_SIGMA * math.sqrt(1.0 / float(z * z) - 1.0)))
    smooth = ipol_gaussian(images, sigma)
    return _ipol_resample(smooth, size, (z, z))


def ipol_zoom_in(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """IPOL `zoom_in`: bicubic samples at (i/fy, j/fx) with f = new size / old size in float32."""
    height, width = images.shape[-2:]
    factors = (np.float32(size[0]) / np.float32(height), np.float32(size[1]) / np.float32(width))
    return _ipol_resample(images, size, factors)


def _ipol_resample(images: torch.Tensor, size: tuple[int, int], factors: tuple[np.float32, np.float32]) -> torch.Tensor:
    """Corner-aligned bicubic resampling of (B, H, W) to `size` with Neumann taps (no border_out)."""
    ys = _ipol_positions(size[0], factors[0], images.device)
    xs = _ipol_positions(size[1], factors[1], images.device)
    map_y, map_x = torch.meshgrid(ys, xs, indexing="ij")
    batch = images.shape[0]
    grid_x, grid_y = map_x.expand(batch, -1, -1), map_y.expand(batch, -1, -1)
    return ipol_bicubic(images.unsqueeze(1), grid_x, grid_y, border_out=False).squeeze(1)
