"""Ra-ICL's network: an online branch (timm backbone, GAP + FC, CAMs, facial-query region discovery)
and its EMA target twin (BYOL style), both inside one module so a checkpoint restores both.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


class Encoder(nn.Module):
    """A backbone's last feature map → GAP + FC class scores; class activation maps from the same FC."""

    def __init__(self, backbone: nn.Module, channels: int, num_classes: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = nn.Linear(channels, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) output of the backbone's last stage (timm `forward_intermediates`, NCHW)."""
        return self.backbone.forward_intermediates(x, indices=1, intermediates_only=True)[-1]

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """(B, classes) scores W·GAP(F) + b."""
        return self.classifier(features.mean(dim=(2, 3)))

    def cam(self, features: torch.Tensor) -> torch.Tensor:
        """(B, classes, h, w) class activation maps M_j(x, y) = Σ_c W_j(c)·F_c(x, y)."""
        return torch.einsum("kc,bchw->bkhw", self.classifier.weight, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classify(self.features(x))


@dataclass(frozen=True)
class Regions:
    """MRD outputs for a batch: soft pixel assignment to the Q facial regions and the region embeddings."""

    assign: torch.Tensor  # (B, Q, h, w), sums to 1 over Q at every pixel
    log_assign: torch.Tensor  # its logarithm (log-softmax, for the cross-entropy)
    embeddings: torch.Tensor  # (B, Q, D) z_m = H(weighted average of the dense features under P_m)


class RegionDiscovery(nn.Module):
    """MRD: learnable facial queries decode Q regions from the feature map (Transformer decoder).

    Each decoded region is compared with every projected dense feature by cosine similarity;
    a softmax over regions at each pixel (temperature `temperature`) gives the pixel
    assignment P, and weighted average pooling of the dense features under P_m, then the
    head H, gives the region embedding z_m.
    """

    def __init__(self, channels: int, dim: int, queries: int, layers: int, heads: int, temperature: float) -> None:
        super().__init__()
        self.queries = nn.Parameter(torch.randn(queries, dim) * 0.02)
        self.memory = nn.Linear(channels, dim)
        layer = nn.TransformerDecoderLayer(dim, heads, dim_feedforward=4 * dim, dropout=0.0, batch_first=True)
        self.decoder = nn.TransformerDecoder(layer, layers)
        self.dense = nn.Conv2d(channels, dim, kernel_size=1)
        self.head = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.temperature = temperature

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """(B, Q, D) facial regions: the queries attend to the (B, h·w, D) projected feature map."""
        memory = self.memory(features.flatten(2).transpose(1, 2))
        return self.decoder(self.queries.expand(len(features), -1, -1), memory)

    def forward(self, features: torch.Tensor) -> Regions:
        regions = F.normalize(self.decode(features), dim=-1)
        dense = self.dense(features)
        scores = torch.einsum("bqd,bdhw->bqhw", regions, F.normalize(dense, dim=1)) / self.temperature
        assign = scores.softmax(dim=1)
        pooled = torch.einsum("bqhw,bdhw->bqd", assign, dense) / assign.sum(dim=(2, 3)).unsqueeze(-1)
        return Regions(assign, scores.log_softmax(dim=1), self.head(pooled))


class Branch(nn.Module):
    """One side of the Siamese pair: the encoder and, when MRD is on, the region discovery module."""

    def __init__(self, encoder: Encoder, regions: RegionDiscovery | None) -> None:
        super().__init__()
        self.encoder = encoder
        self.regions = regions


class RaICLNet(nn.Module):
    """Online branch (trained, used for inference) and, for IRC/MRD, its EMA target (never trained)."""

    def __init__(self, online: Branch, siamese: bool) -> None:
        super().__init__()
        self.online = online
        self.target = copy.deepcopy(online).requires_grad_(False) if siamese else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, classes) scores of the online network."""
        return self.online.encoder(x)

    @torch.no_grad()
    def update_target(self, tau: float) -> None:
        """ξ ← τ·ξ + (1 − τ)·θ for every parameter (buffers such as BN statistics stay the target's own)."""
        for target, online in zip(self.target.parameters(), self.online.parameters(), strict=True):
            target.copy_(tau * target + (1 - tau) * online)
