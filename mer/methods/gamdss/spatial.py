"""GAMDSS's spatial branch (§III-C, Eq. 6–7): where on the face the motion happens.

The resting face (the onset frame) is cut into a grid×grid set of square patches by a
convolution with kernel = stride = patch size (Eq. 6), a learnable position embedding is added
to each patch token (Eq. 7), two pre-norm Transformer blocks (only two, so that identity
features stay out) and a final LayerNorm follow, and the tokens are folded back into a
(B, C, grid, grid) map that is summed element-wise with the temporal features (Eq. 8). The grid
and C are the temporal map's, so the sum is defined for every backbone.
"""

from __future__ import annotations

from functools import partial

import torch
from timm.layers import trunc_normal_
from timm.models.vision_transformer import Block
from torch import nn

from mer.errors import ConfigError

LN_EPS = 1e-6


class SpatialBranch(nn.Module):
    """Onset frame (B, C_in, S, S) → position features (B, dim, grid, grid)."""

    def __init__(
        self, *, in_chans: int, input_size: int, grid: int, dim: int, depth: int, num_heads: int, mlp_ratio: float
    ) -> None:
        super().__init__()
        patch = input_size // grid
        if patch < 1 or input_size // patch != grid:
            raise ConfigError(
                f"gamdss spatial branch: input_size {input_size} cannot be cut into the temporal map's "
                f"{grid}×{grid} grid of equal square patches; choose an input_size that is a multiple of {grid}"
            )
        if dim % num_heads:
            raise ConfigError(f"gamdss spatial branch: {num_heads} heads do not divide the feature width {dim}")
        self.grid = grid
        self.embed = nn.Conv2d(in_chans, dim, kernel_size=patch, stride=patch)
        self.position = nn.Parameter(torch.zeros(1, grid * grid, dim))
        norm = partial(nn.LayerNorm, eps=LN_EPS)
        self.blocks = nn.Sequential(
            *(Block(dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=True, norm_layer=norm) for _ in range(depth))
        )
        self.norm = norm(dim)
        trunc_normal_(self.position, std=0.02)

    def forward(self, onset: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(onset).flatten(2).transpose(1, 2) + self.position
        tokens = self.norm(self.blocks(tokens))
        return tokens.transpose(1, 2).reshape(len(onset), -1, self.grid, self.grid)
