"""Model registry in the style of timm's `create_model`: a name in params.yaml picks a builder."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from mer.errors import ConfigError

ModelBuilder = Callable[..., nn.Module]

_MODELS: dict[str, ModelBuilder] = {}


def register_model(builder: ModelBuilder, name: str | None = None) -> ModelBuilder:
    """Register `builder` under `name` (default: its function name).

    The builder must accept the keywords num_classes, in_chans and input_size.
    """
    name = name or builder.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is already registered")
    _MODELS[name] = builder
    return builder


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_MODELS)


def create_model(name: str, *, num_classes: int, in_chans: int, input_size: int, **kwargs: Any) -> nn.Module:
    """Build the registered model `name`; an unknown name raises ConfigError listing the known ones."""
    try:
        builder = _MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known models: {', '.join(list_models())}") from None
    return builder(num_classes=num_classes, in_chans=in_chans, input_size=input_size, **kwargs)
