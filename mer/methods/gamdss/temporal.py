"""Temporal-branch backbones by name (`method_kwargs.backbone`), the swap of GAMDSS Table VI.

Every backbone exposes the same three hooks, so the spatio-temporal unit never branches on its
type: `features` (B, C_in, S, S) → (B, C, h, w), the map the spatial branch is added to (Eq. 8);
`head` (B, C, h, w) → class scores; `weights` → the module a local `pretrained` file loads into.
`retention` is our RMT-like network (mer.methods.gamdss.retention); the timm backbones are the
project's registered models (random weights, never downloaded) split at timm's own
`forward_features` / `forward_head`, so their pooling and classifier stay timm's and a local
timm checkpoint loads strictly (mer.models.pretrained).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from mer.errors import ConfigError
from mer.methods.gamdss.retention import RetentionNet
from mer.models import create_model


class TimmTemporal(nn.Module):
    """A registered timm backbone used as the temporal branch; `channels_last` for NHWC features (Swin)."""

    def __init__(
        self, name: str, channels_last: bool, *, in_chans: int, num_classes: int, input_size: int, **kwargs: Any
    ) -> None:
        super().__init__()
        self.net = create_model(name, num_classes=num_classes, in_chans=in_chans, input_size=input_size, **kwargs)
        self.channels_last = channels_last
        self.channels = self.net.num_features

    def weights(self) -> nn.Module:
        """The timm model itself: a local timm checkpoint loads into it strictly."""
        return self.net

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.net.forward_features(x)
        return x.permute(0, 3, 1, 2) if self.channels_last else x

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_head(x.permute(0, 2, 3, 1) if self.channels_last else x)


def _retention(*, in_chans: int, num_classes: int, input_size: int, **kwargs: Any) -> nn.Module:
    """Our RMT-like network; it is fully convolutional/attentional, so `input_size` does not shape it."""
    return RetentionNet(in_chans=in_chans, num_classes=num_classes, **kwargs)


def _timm(name: str, channels_last: bool = False) -> Callable[..., nn.Module]:
    def build(**kwargs: Any) -> nn.Module:
        return TimmTemporal(name, channels_last, **kwargs)

    return build


TEMPORAL_BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "retention": _retention,
    "resnet18": _timm("resnet18"),
    "convnext_tiny": _timm("convnext_tiny"),
    "swin_tiny_patch4_window7_224": _timm("swin_tiny_patch4_window7_224", channels_last=True),
}


def create_temporal(name: str, *, in_chans: int, num_classes: int, input_size: int, **kwargs: Any) -> nn.Module:
    """The temporal backbone `name` with seeded random weights; ConfigError lists the known names."""
    try:
        builder = TEMPORAL_BACKBONES[name]
    except KeyError:
        known = ", ".join(sorted(TEMPORAL_BACKBONES))
        raise ConfigError(f"gamdss: unknown backbone {name!r}; known backbones: {known}") from None
    try:
        return builder(in_chans=in_chans, num_classes=num_classes, input_size=input_size, **kwargs)
    except TypeError as error:
        raise ConfigError(f"gamdss: backbone_kwargs do not fit backbone {name!r}: {error}") from None
