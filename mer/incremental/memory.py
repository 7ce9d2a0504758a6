"""Exemplar memory: a fixed total budget of past training samples, balanced over fine-grained classes.

IMER keeps no memory for any method; `mer` makes the budget an explicit config field
(`LearnerConfig.memory`, default 0) and reports the exemplar count beside every result
(reference/incremental.md §7.3, §11.10). The policy follows PyCIL's `fixed_memory: false`:
after each session the budget is split evenly over every fine-grained class seen so far
(`budget // classes`, the remainder unused), old classes are cut down to their new quota
by keeping the first exemplars of their priority order, and the new session's classes are
selected from that session's **training** data only (the learner never sees a test fold).

Selection policies (registry `SELECTORS`), both giving a priority order so that cutting a
class keeps its best exemplars:
* `herding` (iCaRL, Rebuffi et al. 2017; PyCIL's default): on L2-normalised features, greedily
  pick the sample that brings the running mean of the picked features closest to the class
  mean; ties go to the lowest index;
* `random`: a seeded permutation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mer.errors import ConfigError
from mer.incremental.learner import LearnerConfig, SessionData

# (features of one class's samples (n, d), how many to keep, generator) -> indices in priority order.
Selector = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]

SELECTORS: dict[str, Selector] = {}


def register_selector(name: str) -> Callable[[Selector], Selector]:
    """Decorator registering an exemplar selection policy under `name`."""

    def register(selector: Selector) -> Selector:
        if name in SELECTORS:
            raise ValueError(f"selector {name!r} is already registered")
        SELECTORS[name] = selector
        return selector

    return register


@register_selector("herding")
def herding(features: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """iCaRL herding: indices whose running feature mean best tracks the class mean."""
    vectors = torch.nn.functional.normalize(features.double(), dim=1)
    target = vectors.mean(dim=0)
    chosen: list[int] = []
    total = torch.zeros_like(target)
    available = torch.ones(vectors.shape[0], dtype=torch.bool)
    for k in range(1, min(count, vectors.shape[0]) + 1):
        distance = ((target - (total + vectors) / k) ** 2).sum(dim=1)
        distance[~available] = float("inf")
        pick = int(torch.argmin(distance))
        chosen.append(pick)
        total += vectors[pick]
        available[pick] = False
    return torch.tensor(chosen, dtype=torch.long)


@register_selector("random")
def random_order(features: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """A seeded random choice of `count` samples."""
    return torch.randperm(features.shape[0], generator=generator)[:count]


class ExemplarMemory:
    """Past training samples kept for replay, at most `budget` in total."""

    def __init__(self, budget: int, policy: str = "herding") -> None:
        if budget < 0:
            raise ConfigError(f"memory must be >= 0, got {budget}")
        if policy not in SELECTORS:
            raise ConfigError(f"unknown memory policy {policy!r}; known: {', '.join(sorted(SELECTORS))}")
        self.budget = budget
        self.policy = policy
        self.x: torch.Tensor | None = None
        self.y_fine = torch.zeros(0, dtype=torch.long)
        self.y_global = torch.zeros(0, dtype=torch.long)
        self.classes: set[int] = set()  # every fine class seen, kept in memory or not

    def __len__(self) -> int:
        return int(self.y_fine.numel())

    def training_data(self, session: SessionData) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(x, y_fine, y_global): the session's training samples followed by the exemplars."""
        if self.x is None or len(self) == 0:
            return session.x, session.y_fine, session.y_global
        return (
            torch.cat([session.x, self.x]),
            torch.cat([session.y_fine, self.y_fine]),
            torch.cat([session.y_global, self.y_global]),
        )

    def update(
        self, session: SessionData, features: Callable[[torch.Tensor], torch.Tensor] | None, seed: int
    ) -> None:
        """Re-balance the budget over all classes seen, selecting the session's exemplars from its training data.

        `features` maps inputs to feature vectors (needed by herding; computed only when the
        budget is positive).
        """
        if self.budget == 0 or session.y_fine.numel() == 0:
            return
        session_classes = sorted(set(session.y_fine.tolist()))
        kept_classes = sorted(set(self.y_fine.tolist()) - set(session_classes))
        self.classes |= set(session_classes)
        quota = self.budget // len(self.classes)
        parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
        for fine in kept_classes:  # exemplars are stored in priority order: keep the first `quota`
            index = (self.y_fine == fine).nonzero().squeeze(1)[:quota]
            parts.append((self.x[index], self.y_fine[index], self.y_global[index]))
        if quota > 0:
            generator = torch.Generator().manual_seed(seed)
            vectors = features(session.x) if self.policy == "herding" else session.x.flatten(1)
            for fine in session_classes:
                members = (session.y_fine == fine).nonzero().squeeze(1)
                order = SELECTORS[self.policy](vectors[members], quota, generator)
                index = members[order]
                parts.append((session.x[index].clone(), session.y_fine[index], session.y_global[index]))
        if parts:
            self.x = torch.cat([p[0] for p in parts])
            self.y_fine = torch.cat([p[1] for p in parts])
            self.y_global = torch.cat([p[2] for p in parts])


def memory_from_config(config: LearnerConfig, policy: str) -> ExemplarMemory:
    """An empty memory with the config's budget (`memory`) and `policy`."""
    return ExemplarMemory(config.memory, policy)
