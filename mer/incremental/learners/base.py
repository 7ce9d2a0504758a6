"""What Finetune, RanPAC, DER and FOSTER share: one seeded backbone and head, exemplar memory.

Every one of them starts from the same backbone and head, drawn from the seed's "init"
stream (so two learners with the same seed start from identical weights), keeps exemplars by
its `memory_policy`, and — unless it overrides them — extracts features with the backbone and
scores with the head remapped to global emotions.
"""

from __future__ import annotations

from typing import Any

import torch

from mer.incremental.backbones import backbone_from_config
from mer.incremental.heads import head_from_config
from mer.incremental.learner import LabelSpace, Learner, LearnerConfig
from mer.incremental.memory import memory_from_config
from mer.incremental.training import derive_seed, parameter_counts, predict, seeded


class BackboneHeadLearner(Learner):
    """A learner with `self.backbone` (feature extractor, eval mode) and `self.head` on `self.device`."""

    def __init__(self, config: LearnerConfig, labels: LabelSpace, settings: dict[str, Any]) -> None:
        super().__init__(config, labels)
        self.settings = settings
        self.device = torch.device(config.device)
        with seeded(derive_seed(config.seed, "init")):
            backbone = backbone_from_config(config)
            self.head = head_from_config(config, labels, backbone.dim)
        self.dim = backbone.dim
        self.backbone = backbone.extractor.to(self.device).eval()
        self.head.to(self.device)
        self.weights = backbone.weights
        self.memory = memory_from_config(config, settings["memory_policy"])
        self.sessions = 0

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return predict(self.backbone, x, self.device, self.config.batch_size)

    def global_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Head logits on the backbone's features, remapped to global emotions (-inf where unseen)."""
        return predict(lambda xb: self.head.to_global(self.head(self.backbone(xb))), x, self.device)

    def parameter_counts(self) -> dict[str, int]:
        """One backbone and one head."""
        return parameter_counts(self.backbone, self.head)
