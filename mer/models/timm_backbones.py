"""timm backbones (ResNet-18/152, ConvNeXt-T, ViT-B/16, Swin-T) built with random weights, never downloaded.

`create_model` here always passes `pretrained=False`: pretrained weights come only from a
local file named in params (`experiments.<name>.pretrained`), loaded strictly by
`mer.models.pretrained.load_local_weights`, so nothing reaches the network. The
transformers are built for `input_size` (their `img_size`); `model_kwargs` in params pass
through to timm (e.g. `depth`, `embed_dim` for a small ViT).
"""

from __future__ import annotations

from typing import Any

import timm
from torch import nn

from mer.models.registry import register_model

# registry name → (timm architecture, whether it takes img_size)
ARCHITECTURES = {
    "resnet18": ("resnet18", False),
    "resnet152": ("resnet152", False),
    "convnext_tiny": ("convnext_tiny", False),
    "vit_base_patch16_224": ("vit_base_patch16_224", True),
    "swin_tiny_patch4_window7_224": ("swin_tiny_patch4_window7_224", True),
}


def _builder(architecture: str, sized: bool) -> Any:
    def build(*, num_classes: int, in_chans: int, input_size: int, **kwargs: Any) -> nn.Module:
        size = {"img_size": input_size} if sized else {}
        return timm.create_model(
            architecture, pretrained=False, num_classes=num_classes, in_chans=in_chans, **size, **kwargs
        )

    build.__doc__ = f"timm `{architecture}` with random weights (load local ones via `pretrained`)."
    return build


for _name, (_architecture, _sized) in ARCHITECTURES.items():
    register_model(_builder(_architecture, _sized), name=_name)
