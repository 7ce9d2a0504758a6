"""The `miacnet` training method: MIACNet fine-tuned with cross-entropy on (reference frame, change) pairs.

The experiment names two input kinds: `method_kwargs.reference` (default `onset_frame`, the
facial position branch's input) and `method_kwargs.change` (default `rise_diff`, apex − onset,
the facial action branch's input); `input` must list both. `decouple: false` is the ablation
with one encoder on both inputs concatenated. Architecture sizes come from `model_kwargs`
(`width`, `action_channels`, `dropout`); `model` must be `miacnet`.

With `pretrained:` the MA2MI file (`mer pretrain`) is loaded strictly into the encoder (both
branches and the fusion); the classifier keeps its seeded random initialisation. The record
carries the file's SHA-256 and, when the JSON sidecar describes this very file, the
pre-training parameters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from mer.errors import ConfigError
from mer.methods.ma2mi.network import MIACNet
from mer.models.pretrained import load_local_weights
from mer.training.inputs import input_names
from mer.training.methods import Batch, Method, register_method

MODEL = "miacnet"
ARCHITECTURE_KEYS = ("width", "action_channels", "dropout")


def sidecar_path(weights: str | Path) -> Path:
    """The JSON record written beside a pre-trained weights file."""
    weights = Path(weights)
    return weights.with_name(weights.name + ".json")


@register_method("miacnet")
class MIACNetMethod(Method):
    """MIACNet (position and action branches, fused) trained with cross-entropy."""

    def __init__(self, reference: str = "onset_frame", change: str = "rise_diff", decouple: bool = True) -> None:
        if reference == change:
            raise ConfigError(f"method miacnet: reference and change must be different inputs, both are {reference!r}")
        self.reference, self.change, self.decouple = reference, change, bool(decouple)

    def _pair(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        missing = [name for name in (self.reference, self.change) if name not in batch]
        if missing:
            wanted = f"{self.reference!r} and {self.change!r}"
            raise ConfigError(f"method miacnet reads inputs {wanted}; the experiment's input lacks {missing}")
        return batch[self.reference], batch[self.change]

    def build(self, experiment: dict[str, Any], num_classes: int, inputs: Batch) -> nn.Module:
        """MIACNet sized by `model_kwargs`; the inputs must be exactly the reference and the change."""
        if experiment["model"] != MODEL:
            raise ConfigError(f"method miacnet builds its own network: set model: {MODEL}, got {experiment['model']!r}")
        extra = sorted(set(input_names(experiment)) - {self.reference, self.change})
        if extra:
            raise ConfigError(f"method miacnet reads only {self.reference!r} and {self.change!r}; remove {extra}")
        reference, change = self._pair(inputs)
        if reference.shape[1] != change.shape[1]:
            raise ConfigError(f"miacnet: reference has {reference.shape[1]} channels, change {change.shape[1]}")
        kwargs = experiment.get("model_kwargs", {})
        unknown = sorted(set(kwargs) - set(ARCHITECTURE_KEYS))
        if unknown:
            raise ConfigError(f"miacnet model_kwargs takes {list(ARCHITECTURE_KEYS)}, got unknown {unknown}")
        return MIACNet(num_classes, in_chans=reference.shape[1], decouple=self.decouple, **kwargs)

    def load_pretrained(self, model: nn.Module, path: str) -> dict[str, Any]:
        """The encoder strictly from `path` (classifier fresh); the record names the part and the pre-training."""
        record = {**load_local_weights(model.encoder, path), "part": "encoder", "pretraining": None}
        sidecar = sidecar_path(path)
        if sidecar.is_file():
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
            if meta.get("sha256") != record["sha256"]:
                raise ConfigError(
                    f"{sidecar} describes another file (SHA-256 {meta.get('sha256')}, {path} has {record['sha256']}); "
                    "rerun `mer pretrain`"
                )
            record["pretraining"] = meta.get("params")
        return record

    def logits(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """(B, num_classes) class scores (the default loss is their cross-entropy)."""
        return model(*self._pair(batch))
