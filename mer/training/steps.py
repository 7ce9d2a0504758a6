"""The pieces every training run shares: optimiser, loader, the epoch's lr, one epoch, prediction.

`train_fold` (mer.training.loop) and nested hyper-parameter selection (mer.training.tuning)
train with exactly these, so a candidate scored on inner folds is trained the way the final
model is.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from mer.training.methods import Batch, Method

PREDICT_BATCH = 256
# experiments.<name>.optimizer: Adam's weight decay is an L2 term in the gradient, AdamW's is decoupled.
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}


def build_model(
    method: Method, experiment: dict[str, Any], num_classes: int, inputs: Batch, dev: torch.device
) -> tuple[nn.Module, dict[str, Any] | None]:
    """The method's seeded network with the experiment's local `pretrained` weights loaded, on `dev`,
    and the weights' record (None without `pretrained`)."""
    model = method.build(experiment, num_classes, inputs)
    weights = method.load_pretrained(model, experiment["pretrained"]) if experiment.get("pretrained") else None
    return model.to(dev), weights


def make_optimizer(method: Method, model: nn.Module, experiment: dict[str, Any]) -> torch.optim.Optimizer:
    """The experiment's optimiser (`optimizer`, `lr`, `weight_decay`) over the method's parameters."""
    return OPTIMIZERS[experiment.get("optimizer", "adam")](
        method.parameters(model), lr=experiment["lr"], weight_decay=experiment["weight_decay"]
    )


def make_loader(train_set: Dataset, experiment: dict[str, Any], generator: torch.Generator) -> DataLoader:
    """Shuffled mini-batches of `batch_size` from `generator`; a last batch of one is dropped (BatchNorm)."""
    samples = len(train_set)  # type: ignore[arg-type]
    return DataLoader(
        train_set,
        batch_size=experiment["batch_size"],
        shuffle=True,
        generator=generator,
        num_workers=0,
        drop_last=lone_last_batch(samples, experiment["batch_size"]),
    )


def lone_last_batch(samples: int, batch_size: int) -> bool:
    """Whether the last mini-batch would hold one sample after full ones: BatchNorm cannot train on it."""
    return samples > batch_size and samples % batch_size == 1


def set_epoch_lr(optimizer: torch.optim.Optimizer, experiment: dict[str, Any], epoch: int) -> None:
    """lr × lr_decay^(epoch − 1): a function of the epoch alone, so the first e epochs of a longer run
    are exactly an e-epoch run (what lets tuning score every epoch budget from one run)."""
    for group in optimizer.param_groups:
        group["lr"] = experiment["lr"] * experiment.get("lr_decay", 1.0) ** (epoch - 1)


def train_epoch(
    method: Method,
    model: nn.Module,
    keys: list[str],
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    dev: torch.device,
) -> tuple[float, dict[str, float], int]:
    """One pass over the training loader: sample-weighted mean loss, mean of each loss term, optimiser steps."""
    model.train()
    totals: dict[str, float] = {}
    total, count, steps = 0.0, 0, 0
    for *inputs, targets in loader:
        batch = {k: x.to(dev) for k, x in zip(keys, inputs, strict=True)}
        targets = targets.to(dev)
        optimizer.zero_grad(set_to_none=True)
        terms = method.loss_terms(model, batch, targets)
        loss = sum(terms.values())
        loss.backward()
        optimizer.step()
        method.after_step(model)
        steps += 1
        for name, term in terms.items():
            totals[name] = totals.get(name, 0.0) + term.item() * len(targets)
        total += loss.item() * len(targets)
        count += len(targets)
    return total / count, {name: value / count for name, value in totals.items()}, steps


@torch.no_grad()
def predict(method: Method, model: nn.Module, inputs: Batch, dev: torch.device) -> torch.Tensor:
    """Logits of the evaluation-mode model, in input order."""
    model.eval()
    keys = sorted(inputs)
    chunks = zip(*(inputs[k].split(PREDICT_BATCH) for k in keys), strict=True)
    return torch.cat(
        [method.logits(model, {k: x.to(dev) for k, x in zip(keys, chunk, strict=True)}).cpu() for chunk in chunks]
    )
