"""Training methods by name (params.yaml `experiments.<name>.method`): what a fold job optimises.

`train_fold` owns the honest parts of a job (leakage guard, fixed epoch budget, checkpoints,
inner validation, predicting the test fold once); a method owns what differs between papers:
which inputs it reads, the network it builds, its training loss (as named terms) and how it predicts. The
default, `supervised`, is cross-entropy on one input tensor through a registered model.

A method is a `Method` subclass registered with `register_method`; it is built with the
experiment's `method_kwargs`. Everything a method must carry across epochs (EMA targets,
step counters) lives inside the module it builds, as parameters or buffers, so the checkpoint
(`model.state_dict()`) restores it exactly.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from mer.errors import ConfigError
from mer.models import create_model, load_local_weights
from mer.training.data import load_inputs, scaling_of
from mer.training.inputs import InputSources, input_names

Batch = dict[str, torch.Tensor]
LossTerms = dict[str, torch.Tensor]  # name → weighted scalar term; the loss is their sum


class Method:
    """Supervised cross-entropy on the experiment's single input (the default method)."""

    def __init__(self, **kwargs: Any) -> None:
        if kwargs:
            raise ConfigError(f"method {type(self).__name__} takes no method_kwargs, got {sorted(kwargs)}")

    def inputs(self, rows: pd.DataFrame, experiment: dict[str, Any], sources: InputSources) -> Batch:
        """{input name: (N, …) float32 tensor} for `rows`, in row order (default: every named input kind)."""
        size, scaling = experiment["input_size"], scaling_of(experiment)
        return {name: load_inputs(rows, name, size, sources, scaling) for name in input_names(experiment)}

    def build(self, experiment: dict[str, Any], num_classes: int, inputs: Batch) -> nn.Module:
        """The network (with any auxiliary modules it trains), built from seeded random weights."""
        (x,) = self._single(inputs)
        return create_model(
            experiment["model"],
            num_classes=num_classes,
            in_chans=x.shape[1],
            input_size=experiment["input_size"],
            **experiment.get("model_kwargs", {}),
        )

    def training_set(self, inputs: Batch, targets: torch.Tensor) -> tuple[list[str], Dataset]:
        """What one training epoch iterates: the input names in item order and a dataset of
        (input tensors…, target) items (default: one item per training sample)."""
        keys = sorted(inputs)
        return keys, TensorDataset(*(inputs[k] for k in keys), targets)

    def load_pretrained(self, model: nn.Module, path: str) -> dict[str, Any]:
        """Load the experiment's local pretrained file into `model` strictly; returns its record."""
        return load_local_weights(model, path)

    def parameters(self, model: nn.Module) -> list[nn.Parameter]:
        """Parameters the optimiser updates (default: all that require gradients)."""
        return [p for p in model.parameters() if p.requires_grad]

    def loss_terms(self, model: nn.Module, batch: Batch, targets: torch.Tensor) -> LossTerms:
        """The weighted terms of one mini-batch's training loss, by name (model in train mode).

        The loss optimised is their sum; `train_fold` logs each term's epoch mean, so a run
        shows which part of a composite loss moves (default: cross-entropy alone).
        """
        return {"cross_entropy": F.cross_entropy(self.logits(model, batch), targets)}

    def loss(self, model: nn.Module, batch: Batch, targets: torch.Tensor) -> torch.Tensor:
        """Scalar training loss of one mini-batch: the sum of `loss_terms`."""
        return sum(self.loss_terms(model, batch, targets).values())

    def after_step(self, model: nn.Module) -> None:
        """Hook after each optimiser step (e.g. an EMA target update); default none."""

    def logits(self, model: nn.Module, batch: Batch) -> torch.Tensor:
        """(B, num_classes) class scores; used for inner validation and the test fold."""
        (x,) = self._single(batch)
        return model(x)

    @staticmethod
    def _single(batch: Batch) -> tuple[torch.Tensor]:
        if len(batch) != 1:
            raise ConfigError(f"this method reads exactly one input, got {sorted(batch)}")
        return (next(iter(batch.values())),)


_METHODS: dict[str, type[Method]] = {"supervised": Method}


def register_method(name: str) -> Any:
    """Class decorator registering a Method subclass under `name`."""

    def register(cls: type[Method]) -> type[Method]:
        if name in _METHODS:
            raise ValueError(f"method {name!r} is already registered")
        _METHODS[name] = cls
        return cls

    return register


def list_methods() -> list[str]:
    """Registered method names, sorted."""
    return sorted(_METHODS)


def create_method(experiment: dict[str, Any]) -> Method:
    """The experiment's method (default `supervised`) built with its `method_kwargs`."""
    import mer.methods  # noqa: F401  (registers the papers' methods; local: they import this module)

    name = experiment.get("method", "supervised")
    try:
        cls = _METHODS[name]
    except KeyError:
        raise ConfigError(f"unknown method {name!r}; known methods: {', '.join(list_methods())}") from None
    return cls(**experiment.get("method_kwargs", {}))
