"""Pretrained weights from a local file only, loaded strictly, identified by their SHA-256.

No hub, no URL: the file named in params is read (`timm.models.load_state_dict` handles
`.pth`/`.bin` and `.safetensors`, and unwraps `state_dict`/`model` entries). Two
adaptations are allowed, both by name and both recorded:

* the classifier (timm's `pretrained_cfg["classifier"]`, else the model's `classifier`
  module) is left at its seeded random initialisation when its shape differs, since the
  checkpoint was trained for other classes;
* the first convolution (timm's `pretrained_cfg["first_conv"]`) is adapted with
  `timm.models.adapt_input_conv` when the input has other than the checkpoint's channels.

Any other missing, unexpected or mis-shaped key raises ConfigError: a checkpoint for another
architecture never loads "mostly".
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from timm.models import adapt_input_conv, load_state_dict
from torch import nn

from mer.errors import ConfigError


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Full SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cfg(model: nn.Module, key: str) -> str | None:
    cfg = getattr(model, "pretrained_cfg", None) or {}
    return cfg.get(key)


def _prefixes(model: nn.Module) -> tuple[list[str], str | None]:
    """Classifier key prefixes and the first-conv weight key of `model`."""
    classifier = _cfg(model, "classifier") or ("classifier" if hasattr(model, "classifier") else None)
    heads = [classifier] if isinstance(classifier, str) else list(classifier or [])
    first = _cfg(model, "first_conv")
    return [f"{head}." for head in heads], (f"{first}.weight" if first else None)


def load_local_weights(model: nn.Module, path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load `path` into `model` strictly (see module doc); returns {file, sha256, reinitialised, adapted}."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"pretrained weights file not found: {path} (weights are never downloaded)")
    state = load_state_dict(str(path), weights_only=True)
    own = model.state_dict()
    heads, first_conv = _prefixes(model)
    reinitialised, adapted = [], []
    for key in list(state):
        if key not in own or state[key].shape == own[key].shape:
            continue
        if key == first_conv and state[key].shape[0] == own[key].shape[0]:
            state[key] = adapt_input_conv(own[key].shape[1], state[key])
            adapted.append(key)
        elif any(key.startswith(head) for head in heads):
            del state[key]
            reinitialised.append(key)
        else:
            raise ConfigError(f"{path}: {key} has shape {tuple(state[key].shape)}, the model {tuple(own[key].shape)}")
    missing = sorted(set(own) - set(state) - set(reinitialised))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ConfigError(f"{path} does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    model.load_state_dict({**own, **state}, strict=True)
    return {"file": str(path), "sha256": file_sha256(path), "reinitialised": reinitialised, "adapted": adapted}


def save_weights(model: nn.Module, path: str | os.PathLike[str]) -> str:
    """Write `model`'s state dict with torch.save (for making local weight files); returns its SHA-256."""
    torch.save(model.state_dict(), path)
    return file_sha256(path)
