"""STSTNet: the shallow triple-stream network of Liong et al. (FG 2019) on (u, v, strain) flow.

Three parallel streams see the same input: one 3×3 convolution each (3, 5 and 8 filters,
"same" padding), ReLU, BatchNorm and a 3×3 max-pool with stride 3 (padding 1). Dropout
acts on the concatenated stream outputs (16 channels, the same as dropping each stream
separately), which are then average-pooled 2×2 and flattened into one fully connected
layer. On the paper's 28×28 input the feature map before the classifier is 16×5×5. Other
input sizes work; the classifier width follows them.
"""

from __future__ import annotations

import torch
from torch import nn

from mer.models.registry import register_model

STREAM_WIDTHS = (3, 5, 8)


def _stream(in_chans: int, width: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_chans, width, kernel_size=3, padding=1),
        nn.ReLU(),
        nn.BatchNorm2d(width),
        nn.MaxPool2d(kernel_size=3, stride=3, padding=1),
    )


def _pooled_side(input_size: int) -> int:
    after_max = (input_size + 2 * 1 - 3) // 3 + 1
    return after_max // 2


class STSTNet(nn.Module):
    """Three shallow conv streams, concatenated, dropped out, average-pooled, classified by one linear layer."""

    def __init__(self, num_classes: int, in_chans: int = 3, input_size: int = 28, dropout: float = 0.5) -> None:
        super().__init__()
        side = _pooled_side(input_size)
        if side < 1:
            raise ValueError(f"input_size {input_size} is too small for STSTNet (needs at least 4)")
        self.streams = nn.ModuleList(_stream(in_chans, width) for width in STREAM_WIDTHS)
        self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(sum(STREAM_WIDTHS) * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.dropout(torch.cat([stream(x) for stream in self.streams], dim=1))
        features = self.pool(features)
        return self.classifier(torch.flatten(features, 1))


@register_model
def ststnet(*, num_classes: int, in_chans: int, input_size: int, dropout: float = 0.5) -> STSTNet:
    """STSTNet (Liong et al., FG 2019); `dropout` defaults to 0.5."""
    return STSTNet(num_classes=num_classes, in_chans=in_chans, input_size=input_size, dropout=dropout)
