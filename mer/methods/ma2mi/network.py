"""MIACNet: facial position features from the reference (onset) frame, facial action features from the
change to a later frame, fused into one map; a classifier for fine-tuning, a light decoder for MA2MI.

Shapes for an input of S×S pixels (S a multiple of 8 for the decoder; any S ≥ 8 for classification):

* position P = E_p(reference): (B, width, S/8, S/8)
* action   A = E_a(change):    (B, action_channels, S/8, S/8)  (the action code C_Δ)
* fused    F = fuse([P, A]):   (B, width, S/8, S/8)
* logits   classifier(mean over F's positions): (B, num_classes)
* decoder(F): (B, 3, S, S), the reconstructed later frame Î_{t+δ}

Without decoupling (the ablation) one encoder reads the reference and the change concatenated
along channels and yields a (B, width + action_channels, S/8, S/8) map in place of [P, A], so
both variants have the same fusion, head and feature width. Every encoder is three stages of
(3×3 conv stride 2, 3×3 conv), GroupNorm and GELU; GroupNorm keeps a sample's features
independent of the batch (micro-expression batches are small).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

STRIDE = 8  # three stride-2 stages
WIDTH, ACTION_CHANNELS = 64, 32  # default channels of the position (and fused) features and of the action code
GROUPS = 4  # GroupNorm groups (fewer when they do not divide the channels)


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(GROUPS, channels), channels)


def _stage(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=2, padding=1, bias=False),
        _norm(out_channels),
        nn.GELU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        _norm(out_channels),
        nn.GELU(),
    )


def encoder(in_channels: int, out_channels: int) -> nn.Sequential:
    """Three stride-2 stages, channels out/4 → out/2 → out: (B, in, S, S) → (B, out, S/8, S/8)."""
    widths = [max(out_channels // 4, GROUPS), max(out_channels // 2, GROUPS), out_channels]
    return nn.Sequential(*(_stage(a, b) for a, b in zip([in_channels, *widths[:-1]], widths, strict=True)))


@dataclass(frozen=True)
class Features:
    """One forward pass of the encoders: P and A when decoupled (else None), the joint map otherwise, F."""

    position: torch.Tensor | None
    action: torch.Tensor | None
    joint: torch.Tensor | None
    fused: torch.Tensor


class MIACEncoder(nn.Module):
    """The part MA2MI pre-trains and fine-tuning loads: the two branches (or the joint one) and the fusion."""

    def __init__(self, in_chans: int, width: int, action_channels: int, decouple: bool) -> None:
        super().__init__()
        self.decouple = decouple
        if decouple:
            self.position = encoder(in_chans, width)
            self.action = encoder(in_chans, action_channels)
        else:
            self.joint = encoder(2 * in_chans, width + action_channels)
        self.fuse = nn.Sequential(
            nn.Conv2d(width + action_channels, width, 1, bias=False),
            _norm(width),
            nn.GELU(),
            nn.Conv2d(width, width, 3, padding=1, bias=False),
            _norm(width),
            nn.GELU(),
        )

    def forward(self, reference: torch.Tensor, change: torch.Tensor) -> Features:
        """Features of (B, C, S, S) reference frames and (B, C, S, S) changes."""
        if self.decouple:
            position, action = self.position(reference), self.action(change)
            return Features(position, action, None, self.fuse(torch.cat([position, action], dim=1)))
        joint = self.joint(torch.cat([reference, change], dim=1))
        return Features(None, None, joint, self.fuse(joint))


class MIACNet(nn.Module):
    """Encoder plus classifier (global average pooling, dropout, linear); `encoder` is what MA2MI saves."""

    def __init__(
        self,
        num_classes: int,
        in_chans: int = 3,
        width: int = WIDTH,
        action_channels: int = ACTION_CHANNELS,
        decouple: bool = True,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.encoder = MIACEncoder(in_chans, width, action_channels, decouple)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, reference: torch.Tensor, change: torch.Tensor) -> torch.Tensor:
        """(B, num_classes) logits."""
        fused = self.encoder(reference, change).fused
        return self.classifier(self.dropout(fused.mean(dim=(2, 3))))


class FrameDecoder(nn.Module):
    """The light MA2MI decoder: F (B, width, S/8, S/8) → Î_{t+δ} (B, out, S, S) by three ×2 upsampling stages."""

    def __init__(self, width: int = WIDTH, out_chans: int = 3) -> None:
        super().__init__()
        widths = [width, max(width // 2, GROUPS), max(width // 4, GROUPS), max(width // 4, GROUPS)]
        self.up = nn.Sequential(
            *(
                nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv2d(a, b, 3, padding=1, bias=False),
                    _norm(b),
                    nn.GELU(),
                )
                for a, b in zip(widths[:-1], widths[1:], strict=True)
            )
        )
        self.out = nn.Conv2d(widths[-1], out_chans, 3, padding=1)

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        """The reconstructed frame, in the reference frame's per-channel scale."""
        return self.out(self.up(fused))
