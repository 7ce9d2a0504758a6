"""`gamdss`: the GAMDSS rise/fall network trained with Eq. 12, as a `mer` training method.

method_kwargs (docs/method-gamdss.md):

* `variant`: `rise` | `fall` | `full` (Table II's GAMDSS(rise), GAMDSS(fall), GAMDSS(full)):
  which phases the shared unit is trained on;
* `prediction`: how test scores are formed, `rise` | `fall` | `sum`; default the variant's
  first phase, i.e. the rise head for `full`: the paper calls the fall term an auxiliary loss
  that injects knowledge (§III-A, Fig. 3), and the authors' code predicts from the rise output;
* `spatial`: the spatial branch on the onset frame on/off (Table IV's S column);
* `backbone` (+ `backbone_kwargs`): the temporal backbone (Table VI), mer.methods.gamdss.temporal;
* `spatial_depth`, `spatial_heads`, `spatial_mlp_ratio`: the spatial Transformer (2, 4, 4).

The experiment's `input` names one motion input, difference frames (`rise_fall_diff`, …) or
flow (`rise_fall_flow`, …) for Table VII, plus `onset_frame` when the spatial branch is on.
`model` must be `gamdss`: the network is built here, not from the model registry. A local
`pretrained` file is loaded strictly into the temporal backbone (e.g. timm ImageNet weights).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from mer.errors import ConfigError
from mer.methods.gamdss.network import build_network
from mer.models import load_local_weights
from mer.training.data import load_inputs, scaling_of
from mer.training.inputs import InputSources, input_names
from mer.training.methods import Batch, LossTerms, Method, register_method

MODEL_NAME = "gamdss"
ONSET = "onset_frame"
# variant → the phases the shared unit is trained on (Eq. 12 sums their cross-entropies)
VARIANTS: dict[str, tuple[str, ...]] = {"rise": ("rise",), "fall": ("fall",), "full": ("rise", "fall")}
# motion input kind → the phases it stacks along channels, in order
MOTION_INPUTS: dict[str, tuple[str, ...]] = {
    "rise_fall_diff": ("rise", "fall"),
    "rise_diff": ("rise",),
    "fall_diff": ("fall",),
    "rise_fall_flow": ("rise", "fall"),
    "rise_flow": ("rise",),
    "fall_flow": ("fall",),
}


@dataclass(frozen=True)
class Prediction:
    """A test-time rule: the phases it reads and how it combines their scores."""

    phases: tuple[str, ...]
    combine: Callable[[dict[str, torch.Tensor]], torch.Tensor]


PREDICTIONS: dict[str, Prediction] = {
    "rise": Prediction(("rise",), lambda scores: scores["rise"]),
    "fall": Prediction(("fall",), lambda scores: scores["fall"]),
    "sum": Prediction(("rise", "fall"), lambda scores: scores["rise"] + scores["fall"]),
}


@dataclass(frozen=True)
class GamdssConfig:
    """The method's settings (method_kwargs), checked on construction."""

    variant: str = "full"
    prediction: str | None = None
    spatial: bool = True
    backbone: str = "retention"
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    spatial_depth: int = 2
    spatial_heads: int = 4
    spatial_mlp_ratio: float = 4.0

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ConfigError(f"gamdss: unknown variant {self.variant!r}; known variants: {', '.join(VARIANTS)}")
        if self.prediction is not None and self.prediction not in PREDICTIONS:
            known = ", ".join(PREDICTIONS)
            raise ConfigError(f"gamdss: unknown prediction {self.prediction!r}; known rules: {known}")
        missing = set(PREDICTIONS[self.rule].phases) - set(self.phases)
        if missing:
            raise ConfigError(
                f"gamdss: prediction {self.rule!r} needs the {sorted(missing)} phase, "
                f"which variant {self.variant!r} does not train"
            )

    @property
    def phases(self) -> tuple[str, ...]:
        """Phases trained (Eq. 12 terms)."""
        return VARIANTS[self.variant]

    @property
    def rule(self) -> str:
        """The prediction rule: as configured, else the variant's first phase."""
        return self.prediction or self.phases[0]


@register_method("gamdss")
class GamdssMethod(Method):
    """GAMDSS: the shared spatio-temporal unit on the rise and fall phases, Eq. 12 loss."""

    def __init__(self, **kwargs: Any) -> None:
        known = {f.name for f in fields(GamdssConfig)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ConfigError(f"gamdss: unknown method_kwargs {unknown}; known: {sorted(known)}")
        self.config = GamdssConfig(**kwargs)

    def inputs(self, rows: pd.DataFrame, experiment: dict[str, Any], sources: InputSources) -> Batch:
        """The motion input and, with the spatial branch, the onset frame, for `rows`."""
        motion = self._motion_input(experiment)
        names = [motion, ONSET] if self.config.spatial else [motion]
        size, scaling = experiment["input_size"], scaling_of(experiment)
        return {name: load_inputs(rows, name, size, sources, scaling) for name in names}

    def build(self, experiment: dict[str, Any], num_classes: int, inputs: Batch) -> nn.Module:
        motion = self._motion_input(experiment)
        channels = inputs[motion].shape[1]
        stacked = len(MOTION_INPUTS[motion])
        if channels % stacked:
            raise ConfigError(f"gamdss: input {motion!r} has {channels} channels, not {stacked} equal phase blocks")
        cfg = self.config
        return build_network(
            num_classes=num_classes,
            input_size=experiment["input_size"],
            motion_chans=channels // stacked,
            onset_chans=inputs[ONSET].shape[1] if cfg.spatial else None,
            backbone=cfg.backbone,
            backbone_kwargs=cfg.backbone_kwargs,
            spatial_depth=cfg.spatial_depth,
            spatial_heads=cfg.spatial_heads,
            spatial_mlp_ratio=cfg.spatial_mlp_ratio,
        )

    def load_pretrained(self, model: nn.Module, path: str) -> dict[str, Any]:
        """Load a local weights file strictly into the temporal backbone (its classifier re-initialised
        when the class count differs, its first convolution adapted to the input channels)."""
        return load_local_weights(model.unit.temporal.weights(), path)

    def loss_terms(self, model: nn.Module, batch: Batch, targets: torch.Tensor) -> LossTerms:
        """Eq. 12's terms: each trained phase head's mean cross-entropy (the loss is their sum)."""
        scores = model(self._motions(batch, self.config.phases), batch.get(ONSET))
        return {f"cross_entropy_{phase}": F.cross_entropy(scores[phase], targets) for phase in self.config.phases}

    def logits(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """Class scores by the prediction rule; only the phases the rule reads are computed."""
        rule = PREDICTIONS[self.config.rule]
        return rule.combine(model(self._motions(batch, rule.phases), batch.get(ONSET)))

    def _motion_input(self, experiment: dict[str, Any]) -> str:
        """The experiment's one motion input, checked against the variant and the spatial branch."""
        if experiment["model"] != MODEL_NAME:
            raise ConfigError(
                f"gamdss builds its own network: set `model: {MODEL_NAME}` "
                f"(got {experiment['model']!r}; the temporal backbone is method_kwargs.backbone)"
            )
        names = input_names(experiment)
        unknown = sorted(set(names) - set(MOTION_INPUTS) - {ONSET})
        motions = [name for name in names if name in MOTION_INPUTS]
        if unknown or len(motions) != 1:
            raise ConfigError(f"gamdss reads one motion input ({', '.join(MOTION_INPUTS)}) plus {ONSET}; got {names}")
        missing = set(self.config.phases) - set(MOTION_INPUTS[motions[0]])
        if missing:
            raise ConfigError(
                f"gamdss variant {self.config.variant!r} needs the {sorted(missing)} phase, "
                f"which input {motions[0]!r} does not hold"
            )
        if self.config.spatial and ONSET not in names:
            raise ConfigError(
                f"gamdss with the spatial branch reads {ONSET!r}: add it to `input` "
                "(or set method_kwargs.spatial: false)"
            )
        return motions[0]

    @staticmethod
    def _motions(batch: Batch, phases: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """{phase: (B, C, S, S)} slices of the batch's motion input for `phases`."""
        (name,) = [key for key in batch if key in MOTION_INPUTS]
        stacked = MOTION_INPUTS[name]
        blocks = batch[name].chunk(len(stacked), dim=1)
        return {phase: blocks[stacked.index(phase)] for phase in phases}
