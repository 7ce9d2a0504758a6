"""The retention backbone of GAMDSS's temporal branch: a compact RMT-like network of our own.

GAMDSS (arXiv 2603.04766, §III-C and §IV-B) uses RMT (Fan et al., CVPR 2024) as the temporal
stream: RetNet's retention (Eq. 5: a decay γ^{n−m} over token distance and rotary position
encodings e^{inθ} on queries and keys) made two-dimensional. RMT's Manhattan self-attention
(MaSA) weights token m for query n by γ^{|x_n − x_m| + |y_n − y_m|}; each head h has its own
γ_h = 1 − 2^{−a − r·h/H} (a = initial value, r = heads range, H heads). As in RMT, the decay
enters the softmax as an additive log-mask (the weights are exp(q·k)·γ^d, renormalised), the
early, high-resolution stages may use RMT's decomposed form (attention along the width with
γ^{|Δx|}, then along the height with γ^{|Δy|}), values get a 5×5 depthwise "LePE" term, each
block starts with a 3×3 depthwise conditional position encoding, and the feed-forward network
carries a 3×3 depthwise convolution. The head is RMT's: a linear projection, BatchNorm, Swish,
global average pooling and the classifier.

Defaults are scaled down for a CPU; GAMDSS's published configuration (its RMT-T3) is reachable
through the keywords (docs/method-gamdss.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from timm.layers import DropPath, trunc_normal_
from torch import nn

from mer.errors import ConfigError

LN_EPS = 1e-6


def decay_rates(num_heads: int, initial_value: float, heads_range: float) -> torch.Tensor:
    """log γ_h for each head: γ_h = 1 − 2^{−initial_value − heads_range·h/num_heads} (RMT)."""
    exponent = initial_value + heads_range * torch.arange(num_heads, dtype=torch.float64) / num_heads
    return torch.log1p(-torch.pow(2.0, -exponent)).float()


def manhattan_decay(height: int, width: int, log_gamma: torch.Tensor) -> torch.Tensor:
    """(heads, H·W, H·W) additive log-mask: Manhattan distance between row-major tokens times log γ_h."""
    rows = torch.arange(height, dtype=log_gamma.dtype, device=log_gamma.device).repeat_interleave(width)
    cols = torch.arange(width, dtype=log_gamma.dtype, device=log_gamma.device).repeat(height)
    distance = (rows[:, None] - rows[None, :]).abs() + (cols[:, None] - cols[None, :]).abs()
    return distance[None] * log_gamma[:, None, None]


def axis_decay(length: int, log_gamma: torch.Tensor) -> torch.Tensor:
    """(heads, L, L) additive log-mask along one axis: |i − j| times log γ_h."""
    index = torch.arange(length, dtype=log_gamma.dtype, device=log_gamma.device)
    return (index[:, None] - index[None, :]).abs()[None] * log_gamma[:, None, None]


def rotate(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotary encoding: each channel pair (x₂ᵢ, x₂ᵢ₊₁) of token n turned by n·θᵢ; x (..., H, W, d)."""
    height, width = x.shape[-3], x.shape[-2]
    position = torch.arange(height * width, dtype=x.dtype, device=x.device).reshape(height, width, 1)
    phase = position * angles
    pairs = torch.stack([-x[..., 1::2], x[..., ::2]], dim=-1).flatten(-2)
    return x * phase.cos() + pairs * phase.sin()


class DepthwiseConv(nn.Module):
    """k×k depthwise convolution on channels-last (B, H, W, C) maps."""

    def __init__(self, dim: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, kernel, padding=kernel // 2, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class ManhattanRetention(nn.Module):
    """Manhattan self-attention over a (B, H, W, C) map, whole-grid or decomposed along W then H."""

    def __init__(self, dim: int, num_heads: int, initial_value: float, heads_range: float, decomposed: bool) -> None:
        super().__init__()
        self.num_heads, self.decomposed = num_heads, decomposed
        self.key_dim = dim // num_heads
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.lepe = DepthwiseConv(dim, 5)
        self.out = nn.Linear(dim, dim)
        frequencies = 1.0 / 10000 ** torch.linspace(0, 1, self.key_dim // 2)
        self.register_buffer("angles", frequencies.repeat_interleave(2), persistent=False)
        self.register_buffer("log_gamma", decay_rates(num_heads, initial_value, heads_range), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, height, width, dim = x.shape
        v = self.v(x)
        q, k = self.q(x), self.k(x) * self.key_dim**-0.5

        def heads(t: torch.Tensor) -> torch.Tensor:  # (B, H, W, C) → (B, n, H, W, d)
            return t.reshape(batch, height, width, self.num_heads, -1).permute(0, 3, 1, 2, 4)

        q, k, values = rotate(heads(q), self.angles), rotate(heads(k), self.angles), heads(v)
        if self.decomposed:
            mask_w = axis_decay(width, self.log_gamma)[None, :, None]  # (1, n, 1, W, W)
            along_w = torch.softmax(torch.einsum("bnhwd,bnhvd->bnhwv", q, k) + mask_w, dim=-1)
            values = torch.einsum("bnhwv,bnhvd->bnhwd", along_w, values)
            mask_h = axis_decay(height, self.log_gamma)[None, :, None]  # (1, n, 1, H, H)
            along_h = torch.softmax(torch.einsum("bnhwd,bngwd->bnwhg", q, k) + mask_h, dim=-1)
            out = torch.einsum("bnwhg,bngwd->bnhwd", along_h, values)
        else:
            tokens = height * width
            logits = q.reshape(batch, self.num_heads, tokens, -1) @ k.reshape(batch, self.num_heads, tokens, -1).mT
            weights = torch.softmax(logits + manhattan_decay(height, width, self.log_gamma)[None], dim=-1)
            out = (weights @ values.reshape(batch, self.num_heads, tokens, -1)).reshape(values.shape)
        out = out.permute(0, 2, 3, 1, 4).reshape(batch, height, width, dim)
        return self.out(out + self.lepe(v))


class FeedForward(nn.Module):
    """Linear → GELU → (+ 3×3 depthwise conv) → Linear, on channels-last maps."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.conv = DepthwiseConv(hidden, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.fc1(x))
        return self.fc2(x + self.conv(x))


class RetentionBlock(nn.Module):
    """Conditional position encoding, then pre-norm retention and feed-forward residuals."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        initial_value: float,
        heads_range: float,
        decomposed: bool,
        drop_path: float,
    ) -> None:
        super().__init__()
        self.position = DepthwiseConv(dim, 3)
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=LN_EPS), nn.LayerNorm(dim, eps=LN_EPS)
        self.retention = ManhattanRetention(dim, num_heads, initial_value, heads_range, decomposed)
        self.ffn = FeedForward(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.position(x)
        x = x + self.drop_path(self.retention(self.norm1(x)))
        return x + self.drop_path(self.ffn(self.norm2(x)))


def _conv_bn(in_chans: int, out_chans: int, stride: int) -> list[nn.Module]:
    return [nn.Conv2d(in_chans, out_chans, 3, stride=stride, padding=1), nn.BatchNorm2d(out_chans)]


class RetentionNet(nn.Module):
    """RMT-like temporal backbone: `features` gives the (B, C, h, w) map the spatial branch is added
    to (Eq. 8), `head` classifies a map. Stride 2 in the stem and 2 per later stage (16 with 4 stages)."""

    def __init__(
        self,
        *,
        in_chans: int,
        num_classes: int,
        embed_dims: Sequence[int] = (16, 32, 64, 128),
        depths: Sequence[int] = (1, 1, 2, 1),
        num_heads: Sequence[int] = (2, 2, 2, 2),
        initial_values: Sequence[float] = (2, 2, 2, 2),
        heads_ranges: Sequence[float] = (4, 4, 6, 6),
        decomposed: Sequence[bool] = (True, True, False, False),
        mlp_ratio: float = 3.0,
        projection: int = 256,
        drop_path_rate: float = 0.1,
    ) -> None:
        super().__init__()
        stages = (embed_dims, depths, num_heads, initial_values, heads_ranges, decomposed)
        if len({len(s) for s in stages}) != 1:
            raise ConfigError(
                "gamdss retention backbone: embed_dims, depths, num_heads, initial_values, heads_ranges and "
                "decomposed need one entry per stage"
            )
        for dim, heads in zip(embed_dims, num_heads, strict=True):
            if dim % heads or (dim // heads) % 2:
                raise ConfigError(
                    f"gamdss retention backbone: embed dim {dim} needs an even per-head size over {heads} heads "
                    "(the rotary encoding turns channel pairs)"
                )
        self.channels = embed_dims[-1]
        self.stem = nn.Sequential(
            *_conv_bn(in_chans, embed_dims[0] // 2, 2), nn.GELU(), *_conv_bn(embed_dims[0] // 2, embed_dims[0], 1)
        )
        rates = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.stages, self.downsamples = nn.ModuleList(), nn.ModuleList()
        for i, (dim, _, heads, initial, span, split) in enumerate(zip(*stages, strict=True)):
            drops = rates[sum(depths[:i]) : sum(depths[: i + 1])]
            self.stages.append(
                nn.Sequential(*(RetentionBlock(dim, heads, mlp_ratio, initial, span, split, p) for p in drops))
            )
            if i + 1 < len(embed_dims):
                self.downsamples.append(nn.Sequential(*_conv_bn(dim, embed_dims[i + 1], 2)))
        self.project = nn.Linear(self.channels, projection)
        self.norm = nn.BatchNorm2d(projection)
        self.classifier = nn.Linear(projection, num_classes)
        self.apply(_init_weights)

    def weights(self) -> nn.Module:
        """The module a local `pretrained` file is loaded into (the whole backbone)."""
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C_in, S, S) → (B, C, S/16, S/16) temporal features (4 stages)."""
        x = self.stem(x).permute(0, 2, 3, 1)
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i < len(self.downsamples):
                x = self.downsamples[i](x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x.permute(0, 3, 1, 2)

    def head(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) → (B, classes): projection, BatchNorm, Swish, global average, classifier."""
        x = self.project(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.classifier(F.silu(self.norm(x)).mean(dim=(2, 3)))


def _init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)
