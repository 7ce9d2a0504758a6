"""The contract between the incremental runner and its learners (IMER baselines).

The runner (`mer.incremental.runner`) owns sessions, folds, evaluation and metrics; a learner
only ever sees one session's *training* data at a time (`learn`) and answers `global_scores`
for test inputs, so no learner can touch a test fold or compute a metric.

Labels come in two granularities (reference/incremental.md §3, §6):
* fine-grained classes: one per (session, emotion) — a new session's samples of an old
  emotion get a new fine id; the Remappable Classification Head trains over these;
* global emotions: the cross-dataset vocabulary (`mer.datasets.vocabulary`); the single
  expanding head trains over these, and every score the runner evaluates is global.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sized
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mer.errors import ConfigError

if TYPE_CHECKING:  # annotations only: the workflow reads LearnerConfig while parsing, without torch
    import torch


@dataclass(frozen=True)
class LabelSpace:
    """Fine-grained classes of the whole run and their global emotions."""

    fine_names: tuple[str, ...]  # fine id → "<dataset>/<emotion>"
    fine_to_global: tuple[int, ...]  # fine id → global emotion id
    fine_session: tuple[int, ...]  # fine id → the session (0-based) it belongs to
    global_names: tuple[str, ...]  # global emotion id → name


@dataclass(frozen=True)
class SessionData:
    """One session's training data, as a learner sees it."""

    index: int  # 0-based session number
    dataset: str
    x: torch.Tensor  # (N, C, S, S) float32 model inputs
    y_fine: torch.Tensor  # (N,) long fine-grained ids (all of this session's classes)
    y_global: torch.Tensor  # (N,) long global emotion ids
    fine_classes: tuple[int, ...]  # the fine ids of this session, sorted


@dataclass(frozen=True)
class LearnerConfig:
    """What every learner is built from; `settings` holds the learner's own hyper-parameters."""

    backbone: str  # registry name of mer.incremental.backbones
    input_size: int
    in_chans: int
    head: str = "rch"  # "rch" (per-session heads, remapped) | "expanding" (one head over global emotions)
    rch_aggregation: str = "sum"  # sum | max | mean | logsumexp
    memory: int = 0  # exemplar budget (total samples kept from past sessions' training data)
    epochs: int = 1  # first session
    epochs_later: int = 1  # sessions after the first
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.0
    backbone_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: str | None = None  # local weights file, loaded strictly, SHA-256 recorded
    settings: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    device: str = "cpu"


class Learner(ABC):
    """One continual learner; subclasses register with `register_learner`."""

    def __init__(self, config: LearnerConfig, labels: LabelSpace) -> None:
        self.config = config
        self.labels = labels
        self.memory: Sized = ()  # the exemplar memory, if the learner keeps one
        self.weights: dict[str, Any] | None = None  # the local pretrained file's record

    @abstractmethod
    def learn(self, session: SessionData) -> None:
        """Train on one session's training data (plus the learner's own exemplar memory)."""

    @abstractmethod
    def global_scores(self, x: torch.Tensor) -> torch.Tensor:
        """(N, n_global) scores over global emotions; emotions not seen yet are -inf."""

    def memory_size(self) -> int:
        """Exemplars currently held (reported beside every result)."""
        return len(self.memory)

    def parameter_counts(self) -> dict[str, int]:
        """{"total": …, "trainable": …} after the latest session (DER's growth becomes visible)."""
        return {"total": 0, "trainable": 0}

    def weights_record(self) -> dict[str, Any] | None:
        """The local pretrained file's {file, sha256, …}, or None for random weights."""
        return self.weights


_LEARNERS: dict[str, type[Learner]] = {}


def register_learner(name: str) -> Callable[[type[Learner]], type[Learner]]:
    """Class decorator registering a Learner subclass under `name`."""

    def register(cls: type[Learner]) -> type[Learner]:
        if name in _LEARNERS:
            raise ValueError(f"learner {name!r} is already registered")
        _LEARNERS[name] = cls
        return cls

    return register


def list_learners() -> list[str]:
    """Registered learner names, sorted."""
    import mer.incremental.learners  # noqa: F401  (registers the built-in learners)

    return sorted(_LEARNERS)


def create_learner(name: str, config: LearnerConfig, labels: LabelSpace) -> Learner:
    """Build the registered learner `name`; an unknown name raises ConfigError listing the known ones."""
    import mer.incremental.learners  # noqa: F401

    try:
        cls = _LEARNERS[name]
    except KeyError:
        raise ConfigError(f"unknown learner {name!r}; known learners: {', '.join(list_learners())}") from None
    return cls(config, labels)
