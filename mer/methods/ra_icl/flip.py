"""Horizontal mirroring of (u, v, strain) flow fields and of spatial maps (IRC's flipped target instance).

Mirroring an image about its vertical axis maps x to W − 1 − x, so a motion to the right
becomes a motion to the left: the mirrored flow is (−u, v) read at the mirrored pixel. The
strain magnitude √(ux² + vy² + ½(uy + vx)²) is unchanged, since ux and vy keep their sign
while uy and vx both flip theirs. Maps without a direction (CAMs, pixel assignments) are only
mirrored.
"""

from __future__ import annotations

import torch

U_CHANNEL = 0


def flip_flow(flow: torch.Tensor) -> torch.Tensor:
    """Mirror (…, 3, H, W) (u, v, strain) flows left-right: columns reversed and u negated."""
    mirrored = flow.flip(-1)
    sign = torch.ones(flow.shape[-3], 1, 1, dtype=flow.dtype, device=flow.device)
    sign[U_CHANNEL] = -1
    return mirrored * sign


def flip_map(maps: torch.Tensor) -> torch.Tensor:
    """Mirror (…, H, W) maps left-right (columns reversed)."""
    return maps.flip(-1)
