"""Off-ApexNet-style network (after Gan, Liong et al., 2019): one small CNN stream per flow channel.

Off-ApexNet feeds the horizontal and vertical onset→apex flow of a 28×28 face to two
identical convolutional streams and classifies their concatenated features with fully
connected layers. Here every input channel gets its own stream (u, v and, when present,
strain), each: 5×5 convolution with 6 filters ("same" padding), ReLU, 2×2 max-pool, 5×5
convolution with 16 filters, ReLU, 2×2 max-pool; the flattened streams are concatenated and
passed through a hidden fully connected layer (`hidden`, default 1024) with ReLU and
dropout before the classifier. The layer sizes follow our reading of the paper, not its
code (which is not public); "-style" says so.
"""

from __future__ import annotations

import torch
from torch import nn

from mer.models.registry import register_model

WIDTHS = (6, 16)


def _stream() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, WIDTHS[0], kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(WIDTHS[0], WIDTHS[1], kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


class OffApexNet(nn.Module):
    """One two-layer CNN stream per input channel, concatenated, one hidden FC layer, classifier."""

    def __init__(
        self, num_classes: int, in_chans: int = 3, input_size: int = 28, hidden: int = 1024, dropout: float = 0.5
    ) -> None:
        super().__init__()
        side = input_size // 4
        if side < 1:
            raise ValueError(f"input_size {input_size} is too small for Off-ApexNet (needs at least 4)")
        self.streams = nn.ModuleList(_stream() for _ in range(in_chans))
        self.hidden = nn.Sequential(
            nn.Linear(in_chans * WIDTHS[1] * side * side, hidden), nn.ReLU(), nn.Dropout(dropout)
        )
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.flatten(stream(x[:, i : i + 1]), 1) for i, stream in enumerate(self.streams)]
        return self.classifier(self.hidden(torch.cat(parts, dim=1)))


@register_model
def offapexnet(
    *, num_classes: int, in_chans: int, input_size: int, hidden: int = 1024, dropout: float = 0.5
) -> OffApexNet:
    """Off-ApexNet-style two-layer CNN streams (one per input channel) with a `hidden`-unit FC layer."""
    return OffApexNet(num_classes=num_classes, in_chans=in_chans, input_size=input_size, hidden=hidden, dropout=dropout)
