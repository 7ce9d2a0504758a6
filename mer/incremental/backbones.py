"""Feature extractors for the incremental learners: timm ResNet, ViT and Swin-T without classifier.

A backbone here is a timm model built with `num_classes=0` (its forward returns pooled
features) and `pretrained=False`: weights never come from a hub, only from a local file
named in the learner config, loaded strictly by `mer.models.pretrained.load_local_weights`
with the file's SHA-256 recorded (reference/incremental.md §10). IMER's code loads its files
with `strict=False`, so a wrong file silently leaves random weights (§7.2); here a file for
another architecture raises ConfigError.

A real checkpoint carries its ImageNet classifier. The model is then built *with* a
classifier so that every checkpoint key is checked, and the classifier is removed after
loading (recorded under "reinitialised" when its shape differed). A file saved from a
headless model loads into a headless model.

Transformers are built for the learner's input size (`img_size`); `kwargs` pass to timm, so
tiny CPU configs are e.g. `{"depth": 1, "embed_dim": 32, "num_heads": 2, "patch_size": 8}`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import torch
from timm.models import load_state_dict
from torch import nn

from mer.errors import ConfigError
from mer.incremental.learner import LearnerConfig
from mer.models import create_model
from mer.models.pretrained import load_local_weights, save_weights

class Backbone(NamedTuple):
    """A feature extractor, its feature dimension and the local weights it was loaded from."""

    extractor: nn.Module  # forward: (N, in_chans, S, S) -> (N, dim)
    dim: int
    weights: dict[str, Any] | None  # {file, sha256, reinitialised, adapted, architecture} or None (random)


# The paper's backbones (ResNet, ViT-B/16, Swin-T) and IMER's ResNet-152 file (reference §7.2), built
# by the model registry (mer.models.timm_backbones: timm, random weights, img_size for transformers).
BACKBONES = ("resnet18", "resnet152", "vit_base_patch16_224", "swin_tiny_patch4_window7_224")


def list_backbones() -> list[str]:
    """Registered backbone names, sorted."""
    return sorted(BACKBONES)


def _builder(name: str) -> Callable[..., nn.Module]:
    if name not in BACKBONES:
        raise ConfigError(f"unknown backbone {name!r}; known backbones: {', '.join(list_backbones())}")
    return partial(create_model, name)


def _classifier_prefixes(model: nn.Module) -> list[str]:
    """Key prefixes of the model's classifier according to its timm pretrained_cfg."""
    classifier = (getattr(model, "pretrained_cfg", None) or {}).get("classifier")
    heads = [classifier] if isinstance(classifier, str) else list(classifier or [])
    return [f"{head}." for head in heads]


def _has_classifier(path: Path, model: nn.Module) -> bool:
    """Whether the weights file holds classifier keys of `model`'s architecture."""
    prefixes = _classifier_prefixes(model)
    return any(key.startswith(tuple(prefixes)) for key in load_state_dict(str(path), weights_only=True))


def create_backbone(
    name: str, *, in_chans: int, input_size: int, pretrained: str | os.PathLike[str] | None = None, **kwargs: Any
) -> Backbone:
    """Build backbone `name` without classifier; load `pretrained` (a local file) strictly when given.

    Random initialisation draws from torch's global RNG: seed it (mer.incremental.training.seeded).
    """
    build = _builder(name)
    if pretrained is None:
        model = build(num_classes=0, in_chans=in_chans, input_size=input_size, **kwargs)
        return Backbone(model, int(model.num_features), None)
    path = Path(pretrained)
    if not path.is_file():
        raise ConfigError(f"pretrained weights file not found: {path} (weights are never downloaded)")
    model = build(num_classes=1, in_chans=in_chans, input_size=input_size, **kwargs)
    if not _has_classifier(path, model):
        model = build(num_classes=0, in_chans=in_chans, input_size=input_size, **kwargs)
    record = load_local_weights(model, path)
    model.reset_classifier(0)
    architecture = (getattr(model, "pretrained_cfg", None) or {}).get("architecture", name)
    return Backbone(model, int(model.num_features), {**record, "architecture": architecture})


def backbone_from_config(config: LearnerConfig) -> Backbone:
    """The backbone a learner config names (backbone, in_chans, input_size, backbone_kwargs, pretrained)."""
    return create_backbone(
        config.backbone,
        in_chans=config.in_chans,
        input_size=config.input_size,
        pretrained=config.pretrained,
        **config.backbone_kwargs,
    )


def save_random_backbone(
    name: str,
    path: str | os.PathLike[str],
    *,
    in_chans: int,
    input_size: int,
    seed: int = 0,
    num_classes: int = 10,
    **kwargs: Any,
) -> str:
    """Write a randomly initialised `name` *with* a classifier, like a real checkpoint; returns its SHA-256.

    For tests: the file goes through the same strict loading path as a real pretrained file.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _builder(name)(num_classes=num_classes, in_chans=in_chans, input_size=input_size, **kwargs)
    return save_weights(model, path)
