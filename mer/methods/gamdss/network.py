"""The GAMDSS network: one spatio-temporal unit whose parameters the rise and fall phases share.

Eq. 11: φ_rise, φ_fall = S-T Unit(F_rise, F_fall; θ) with a single θ. The unit is a temporal
backbone (its features and its classifier head) plus, optionally, the spatial branch; the same
module classifies every phase, so adding the fall phase adds computation but no parameter (the
paper's Table II lists 12.6 M parameters for the rise, fall and full variants alike). The
spatial branch reads the onset frame, which both phases share, so its map is computed once per
sample and added to each phase's temporal map.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mer.methods.gamdss.spatial import SpatialBranch
from mer.methods.gamdss.temporal import create_temporal


class SpatioTemporalUnit(nn.Module):
    """Temporal backbone + optional spatial branch; `forward` classifies one phase's motion input."""

    def __init__(self, temporal: nn.Module, spatial: SpatialBranch | None) -> None:
        super().__init__()
        self.temporal, self.spatial = temporal, spatial

    def position(self, onset: torch.Tensor | None) -> torch.Tensor | None:
        """The spatial branch's (B, C, h, w) map of the onset frame, or None without the branch."""
        return None if self.spatial is None else self.spatial(onset)

    def forward(self, motion: torch.Tensor, position: torch.Tensor | None) -> torch.Tensor:
        features = self.temporal.features(motion)
        return self.temporal.head(features if position is None else features + position)


class GamdssNet(nn.Module):
    """{phase: motion input} and the onset frame → {phase: class scores}, all through one unit."""

    def __init__(self, unit: SpatioTemporalUnit) -> None:
        super().__init__()
        self.unit = unit

    def forward(self, motions: dict[str, torch.Tensor], onset: torch.Tensor | None) -> dict[str, torch.Tensor]:
        position = self.unit.position(onset)
        return {phase: self.unit(motion, position) for phase, motion in motions.items()}


def feature_grid(temporal: nn.Module, in_chans: int, input_size: int) -> tuple[int, int]:
    """(channels, side) of the temporal map for a square input, from one gradient-free eval-mode pass
    (BatchNorm statistics untouched, no random numbers drawn)."""
    temporal.eval()
    with torch.no_grad():
        shape = temporal.features(torch.zeros(1, in_chans, input_size, input_size)).shape
    temporal.train()
    return shape[1], shape[2]


def build_network(
    *,
    num_classes: int,
    input_size: int,
    motion_chans: int,
    onset_chans: int | None,
    backbone: str,
    backbone_kwargs: dict[str, Any],
    spatial_depth: int,
    spatial_heads: int,
    spatial_mlp_ratio: float,
) -> GamdssNet:
    """The network with seeded random weights; `onset_chans` None builds it without the spatial branch."""
    temporal = create_temporal(
        backbone, in_chans=motion_chans, num_classes=num_classes, input_size=input_size, **backbone_kwargs
    )
    spatial = None
    if onset_chans is not None:
        channels, grid = feature_grid(temporal, motion_chans, input_size)
        spatial = SpatialBranch(
            in_chans=onset_chans,
            input_size=input_size,
            grid=grid,
            dim=channels,
            depth=spatial_depth,
            num_heads=spatial_heads,
            mlp_ratio=spatial_mlp_ratio,
        )
    return GamdssNet(SpatioTemporalUnit(temporal, spatial))
