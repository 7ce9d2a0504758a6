"""Classification heads of the incremental learners: the Remappable Classification Head and the expanding head.

Both heads are bias-free linear blocks over the features, one block per session that adds
outputs, and both answer global-emotion scores through the same remap:

* `rch` (IMER's Remappable Classification Head, paper §3.4): one head H^t per session over
  that session's fine-grained classes. A global emotion c's final weights are
  H_final^c = Σ_{t∈T_c} H_t^c; with bias-free heads xᵀH_final^c is the **sum of the logits**
  of c's fine classes, so `rch_aggregation: sum` is the paper's rule. The public code instead
  takes the argmax over fine logits then remaps (a max rule) and has a mean rule commented
  out (reference/incremental.md §6), hence `max`, `mean` and `logsumexp` as alternatives.
* `expanding` (the paper's ablation baseline): one output per global emotion, added the
  first time a session brings that emotion; samples of an old emotion train its old row.
  Each emotion has exactly one output, so every aggregation is the identity.

Global emotions without an output yet score -inf. Training targets are output indices
(`Head.targets`); outputs are appended session by session, so the first `n` outputs are
those that existed before a session added its own (what DER's auxiliary head and FOSTER's
distillation call "old classes").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from mer.errors import ConfigError, InputDataError
from mer.incremental.learner import LabelSpace, LearnerConfig, SessionData

# (N, k) logits of one emotion's outputs -> (N,) score of that emotion.
Aggregation = Callable[[torch.Tensor], torch.Tensor]

AGGREGATIONS: dict[str, Aggregation] = {}


def register_aggregation(name: str) -> Callable[[Aggregation], Aggregation]:
    """Decorator registering an RCH aggregation rule under `name`."""

    def register(rule: Aggregation) -> Aggregation:
        if name in AGGREGATIONS:
            raise ValueError(f"aggregation {name!r} is already registered")
        AGGREGATIONS[name] = rule
        return rule

    return register


@register_aggregation("sum")
def _sum(logits: torch.Tensor) -> torch.Tensor:
    """The paper's rule: summed head weights = summed logits (bias-free heads)."""
    return logits.sum(dim=1)


@register_aggregation("max")
def _max(logits: torch.Tensor) -> torch.Tensor:
    """The public code's rule: argmax over fine logits, then remap."""
    return logits.amax(dim=1)


@register_aggregation("mean")
def _mean(logits: torch.Tensor) -> torch.Tensor:
    """The public code's commented-out `aggregate_outputs`."""
    return logits.mean(dim=1)


@register_aggregation("logsumexp")
def _logsumexp(logits: torch.Tensor) -> torch.Tensor:
    """Log of the summed fine-class probabilities' numerators (a smooth max)."""
    return torch.logsumexp(logits, dim=1)


def aggregation(name: str) -> Aggregation:
    """The registered rule `name`; an unknown name raises ConfigError."""
    try:
        return AGGREGATIONS[name]
    except KeyError:
        raise ConfigError(f"unknown rch_aggregation {name!r}; known: {', '.join(sorted(AGGREGATIONS))}") from None


@dataclass(frozen=True)
class HeadKind:
    """What a head's outputs denote: fine-grained classes or global emotions."""

    outputs: Callable[[LabelSpace, SessionData], list[int]]  # ids a session needs, in order
    global_of: Callable[[LabelSpace, int], int]  # output id -> global emotion id
    label: str  # "fine" (targets from y_fine) or "global" (targets from y_global)


HEAD_KINDS: dict[str, HeadKind] = {
    "rch": HeadKind(
        outputs=lambda labels, session: list(session.fine_classes),
        global_of=lambda labels, fine: labels.fine_to_global[fine],
        label="fine",
    ),
    "expanding": HeadKind(
        outputs=lambda labels, session: sorted({labels.fine_to_global[f] for f in session.fine_classes}),
        global_of=lambda labels, emotion: emotion,
        label="global",
    ),
}


def head_kind(name: str) -> HeadKind:
    """The registered head kind `name`; an unknown name raises ConfigError."""
    try:
        return HEAD_KINDS[name]
    except KeyError:
        raise ConfigError(f"unknown head {name!r}; known heads: {', '.join(sorted(HEAD_KINDS))}") from None


class Head(nn.Module):
    """Bias-free linear outputs grown session by session, remapped to global-emotion scores."""

    def __init__(self, kind: str, labels: LabelSpace, in_features: int, rch_aggregation: str = "sum") -> None:
        super().__init__()
        self.kind_name = kind
        self.kind = head_kind(kind)
        self.aggregation_name = rch_aggregation
        self.aggregate = aggregation(rch_aggregation)
        self.labels = labels
        self.in_features = in_features
        self.blocks = nn.ModuleList()
        self.register_buffer("output_ids", torch.zeros(0, dtype=torch.long))  # fine or global id per output
        self.register_buffer("output_global", torch.zeros(0, dtype=torch.long))  # global emotion per output

    @property
    def n_outputs(self) -> int:
        """Number of outputs (fine classes or global emotions) so far."""
        return int(self.output_ids.numel())

    def grow(self, session: SessionData) -> int:
        """Add a block for the outputs `session` needs and the head lacks; returns how many were added.

        New weights take nn.Linear's default initialisation from torch's global RNG (seed it),
        drawn on the CPU so that every device gets the same values.
        """
        present = set(self.output_ids.tolist())
        new = [i for i in self.kind.outputs(self.labels, session) if i not in present]
        if not new:
            return 0
        device = self.output_ids.device
        self.blocks.append(nn.Linear(self.in_features, len(new), bias=False).to(device))
        ids = torch.tensor(new, dtype=torch.long, device=device)
        emotions = torch.tensor([self.kind.global_of(self.labels, i) for i in new], dtype=torch.long, device=device)
        self.output_ids = torch.cat([self.output_ids, ids])
        self.output_global = torch.cat([self.output_global, emotions])
        return len(new)

    def widen(self, in_features: int) -> None:
        """Grow every block's input to `in_features` (DER, FOSTER): old columns copied, new ones initialised.

        As PyCIL/PILOT's `update_fc`: the new columns take nn.Linear's default initialisation.
        """
        if in_features < self.in_features:
            raise ValueError(f"cannot narrow a head from {self.in_features} to {in_features} features")
        for index, block in enumerate(self.blocks):
            wider = nn.Linear(in_features, block.out_features, bias=False)
            with torch.no_grad():
                wider.weight[:, : self.in_features] = block.weight.detach().cpu()
            self.blocks[index] = wider.to(block.weight.device).requires_grad_(block.weight.requires_grad)
        self.in_features = in_features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, n_outputs) logits, blocks in the order they were added."""
        if not self.blocks:
            return features.new_zeros((features.shape[0], 0))
        return torch.cat([block(features) for block in self.blocks], dim=1)

    def targets(self, y_fine: torch.Tensor, y_global: torch.Tensor, *, dataset: str | None = None) -> torch.Tensor:
        """Output index of each sample; a class without an output raises InputDataError."""
        labels = y_fine if self.kind.label == "fine" else y_global
        position = {int(i): index for index, i in enumerate(self.output_ids.tolist())}
        missing = sorted(set(labels.tolist()) - set(position))
        if missing:
            raise InputDataError(
                f"{self.kind.label} labels {missing} have no output in the {self.kind_name} head", dataset=dataset
            )
        return torch.tensor([position[i] for i in labels.tolist()], dtype=torch.long, device=labels.device)

    def to_global(self, logits: torch.Tensor) -> torch.Tensor:
        """(N, n_global) scores: each emotion's outputs aggregated; emotions without outputs are -inf."""
        n_global = len(self.labels.global_names)
        scores = logits.new_full((logits.shape[0], n_global), float("-inf"))
        for emotion in sorted(set(self.output_global.tolist())):
            members = (self.output_global == emotion).nonzero().squeeze(1).to(logits.device)
            scores[:, emotion] = self.aggregate(logits[:, members])
        return scores


def head_from_config(config: LearnerConfig, labels: LabelSpace, in_features: int) -> Head:
    """An empty head of the config's kind (`head`) and aggregation (`rch_aggregation`)."""
    return Head(config.head, labels, in_features, config.rch_aggregation)
