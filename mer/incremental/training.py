"""The one training loop every incremental learner uses, plus seeding, settings and batched inference.

PILOT/PyCIL copy a training loop into every method; here each learner states only its loss
and its trainable parameters and calls `fit_epochs` (reference/incremental.md §7.4). SGD with
momentum 0.9 as PILOT (or Adam/AdamW), a cosine schedule stepped per epoch (PILOT's RanPAC and
FOSTER; its Finetune and DER use step milestones, `schedule: constant` is the other choice),
fixed epochs, no evaluation inside the loop (§11.7), no data augmentation (IMER has none).

Determinism: `fit_epochs` and `seeded` fork torch's RNG and seed it, so batch order, dropout
and weight initialisation follow the given seed and leave the caller's RNG untouched;
`derive_seed` turns (run seed, session, purpose) into independent seeds.

Diagnostics: inside `recording_losses()`, every `fit_epochs` call appends its stage, epochs,
optimiser steps and mean loss per epoch to the block's log, so the runner records the loss
curves of every learner without each learner reporting them.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from mer.errors import ConfigError
from mer.incremental.learner import LearnerConfig

# Optimiser builders: (parameters, settings) -> optimiser.
OPTIMIZERS: dict[str, Callable[[list[nn.Parameter], FitSettings], torch.optim.Optimizer]] = {
    "sgd": lambda params, s: torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay),
    "adam": lambda params, s: torch.optim.Adam(params, lr=s.lr, weight_decay=s.weight_decay),
    "adamw": lambda params, s: torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay),
}

# Learning-rate schedules stepped once per epoch: (optimiser, settings) -> scheduler or None.
SCHEDULES: dict[str, Callable[[torch.optim.Optimizer, FitSettings], Any]] = {
    "cosine": lambda opt, s: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s.epochs, eta_min=s.min_lr),
    "constant": lambda opt, s: None,
}

# The active `recording_losses` log, if any.
_FIT_LOG: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar("fit_log", default=None)

# Learner settings shared by every learner that trains (LearnerConfig.settings keys).
FIT_DEFAULTS: dict[str, Any] = {"optimizer": "sgd", "momentum": 0.9, "schedule": "cosine", "min_lr": 0.0}


@dataclass(frozen=True)
class FitSettings:
    """How one call of `fit_epochs` trains."""

    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    optimizer: str = "sgd"  # OPTIMIZERS key
    momentum: float = 0.9  # SGD only
    schedule: str = "cosine"  # SCHEDULES key
    min_lr: float = 0.0  # cosine floor

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}; known: {', '.join(sorted(OPTIMIZERS))}")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"unknown schedule {self.schedule!r}; known: {', '.join(sorted(SCHEDULES))}")
        if self.epochs < 0 or self.batch_size < 1:
            raise ConfigError(f"epochs must be >= 0 and batch_size >= 1, got {self.epochs} and {self.batch_size}")


def read_settings(config: LearnerConfig, defaults: Mapping[str, Any], learner: str) -> dict[str, Any]:
    """`config.settings` over `defaults`; unknown keys and values of the wrong type raise ConfigError."""
    unknown = sorted(set(config.settings) - set(defaults))
    if unknown:
        raise ConfigError(f"{learner}: unknown settings {unknown}; known: {sorted(defaults)}")
    merged = {**defaults, **config.settings}
    for key, default in defaults.items():
        value = merged[key]
        numeric = isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool)
        if default is not None and not isinstance(value, type(default)) and not numeric:
            raise ConfigError(f"{learner}: setting {key!r} must be {type(default).__name__}, got {value!r}")
    return merged


def fit_settings(
    config: LearnerConfig, settings: Mapping[str, Any], epochs: int, *, weight_decay: float | None = None
) -> FitSettings:
    """FitSettings from the config's lr/batch size/weight decay and the shared settings keys."""
    return FitSettings(
        epochs=epochs,
        batch_size=config.batch_size,
        lr=config.lr,
        weight_decay=config.weight_decay if weight_decay is None else weight_decay,
        optimizer=settings["optimizer"],
        momentum=float(settings["momentum"]),
        schedule=settings["schedule"],
        min_lr=float(settings["min_lr"]),
    )


def session_epochs(config: LearnerConfig, first: bool) -> int:
    """IMER's schedule: `epochs` in the first session, `epochs_later` afterwards."""
    return config.epochs if first else config.epochs_later


def derive_seed(seed: int, *parts: object) -> int:
    """A seed for (seed, *parts), independent across parts (SHA-256 of their repr)."""
    digest = hashlib.sha256(repr((seed, *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2**63)


@contextlib.contextmanager
def seeded(seed: int, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the block with torch's global RNG (and the device's) seeded to `seed`, restored afterwards."""
    device = torch.device(device)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A seeded permutation cut into batches; a trailing single sample joins the previous batch.

    A batch of one breaks BatchNorm in training mode (ResNet on small inputs), so it is merged
    rather than dropped: every sample is seen once per epoch.
    """
    order = torch.randperm(n, generator=generator)
    batches = list(order.split(batch_size))
    if len(batches) > 1 and batches[-1].numel() == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def fit_epochs(
    loss_fn: Callable[..., torch.Tensor],
    parameters: Iterable[nn.Parameter],
    data: Sequence[torch.Tensor],
    settings: FitSettings,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    train: Sequence[nn.Module] = (),
    frozen: Sequence[nn.Module] = (),
    stage: str = "fit",
) -> list[float]:
    """Minimise `loss_fn(*batch)` over `data` for `settings.epochs` epochs; returns the mean loss per epoch.

    `data` are CPU tensors sharing their first dimension; each batch is moved to `device`.
    `train` modules are put in training mode at every epoch, then `frozen` ones in eval mode
    (so frozen BatchNorm statistics never move, e.g. DER's old extractors); at the end every
    `train` module is left in eval mode. Only `parameters` are optimised. `stage` names the
    call in the `recording_losses` log.
    """
    params = list(dict.fromkeys(p for p in parameters if p.requires_grad))
    if not params:
        raise ValueError("fit_epochs: no parameter requires grad")
    n = data[0].shape[0]
    if n == 0 or any(t.shape[0] != n for t in data):
        raise ValueError(f"fit_epochs: data must be non-empty with one first dimension, got {[t.shape for t in data]}")
    device = torch.device(device)
    history = []
    steps = 0
    with seeded(seed, device):
        generator = torch.Generator().manual_seed(seed)
        optimizer = OPTIMIZERS[settings.optimizer](params, settings)
        scheduler = SCHEDULES[settings.schedule](optimizer, settings)
        for _ in range(settings.epochs):
            for module in train:
                module.train()
            for module in frozen:
                module.eval()
            total = 0.0
            for index in _batches(n, settings.batch_size, generator):
                loss = loss_fn(*(t[index].to(device) for t in data))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                steps += 1
                total += float(loss.detach()) * index.numel()
            history.append(total / n)
            if scheduler is not None:
                scheduler.step()
    for module in train:
        module.eval()
    log = _FIT_LOG.get()
    if log is not None:
        log.append({"stage": stage, "epochs": settings.epochs, "steps": steps, "loss": history})
    return history


@contextlib.contextmanager
def recording_losses() -> Iterator[list[dict[str, Any]]]:
    """Collect one record per `fit_epochs` call in the block: {stage, epochs, steps, loss (mean per epoch)}."""
    log: list[dict[str, Any]] = []
    token = _FIT_LOG.set(log)
    try:
        yield log
    finally:
        _FIT_LOG.reset(token)


@torch.no_grad()
def predict(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, device: torch.device | str, batch_size: int = 256
) -> torch.Tensor:
    """`fn` over `x` in batches on `device`, without gradients; the result on the CPU."""
    outputs = [fn(chunk.to(device)).cpu() for chunk in x.split(batch_size)]
    return torch.cat(outputs) if outputs else torch.zeros(0)


def parameter_counts(*modules: nn.Module) -> dict[str, int]:
    """{"total", "trainable"} parameter counts over `modules` (each shared parameter once)."""
    params = list(dict.fromkeys(p for module in modules for p in module.parameters()))
    return {"total": sum(p.numel() for p in params), "trainable": sum(p.numel() for p in params if p.requires_grad)}
