"""Finetune: one backbone and head trained with cross-entropy on each session in turn (the lower bound).

Nothing protects old knowledge. PyCIL/PILOT's Finetune trains later tasks with CE on the new
classes' logits only (`logits[:, known:]`, shifted targets; reference/incremental.md §7.1),
which IMER inherits. In IMER's composite class-domain setting a session can bring samples of
an old global emotion (the expanding head), so the faithful generalisation is
`ce_scope: present` (default): CE over the outputs whose classes occur in this session's
training data (plus exemplars, if any), the other logits masked out. With the RCH head every
sample of session t has a fine class of session t, so this is exactly PILOT's mask.
`ce_scope: all` is plain CE over every output. Exemplar replay (memory > 0) is optional.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from mer.errors import ConfigError
from mer.incremental.learner import LabelSpace, LearnerConfig, SessionData, register_learner
from mer.incremental.learners.base import BackboneHeadLearner
from mer.incremental.training import (
    FIT_DEFAULTS,
    derive_seed,
    fit_epochs,
    fit_settings,
    read_settings,
    seeded,
    session_epochs,
)

DEFAULTS: dict[str, Any] = {**FIT_DEFAULTS, "ce_scope": "present", "memory_policy": "herding"}
CE_SCOPES = ("present", "all")


@register_learner("finetune")
class Finetune(BackboneHeadLearner):
    """Sequential fine-tuning of backbone and head with CE (see module doc for the CE scope)."""

    def __init__(self, config: LearnerConfig, labels: LabelSpace) -> None:
        settings = read_settings(config, DEFAULTS, "finetune")
        if settings["ce_scope"] not in CE_SCOPES:
            raise ConfigError(f"finetune: ce_scope must be one of {CE_SCOPES}, got {settings['ce_scope']!r}")
        super().__init__(config, labels, settings)

    def learn(self, session: SessionData) -> None:
        """Grow the head and train everything on the session (and exemplars) with masked or full CE."""
        with seeded(derive_seed(self.config.seed, session.index, "grow")):
            self.head.grow(session)
        x, y_fine, y_global = self.memory.training_data(session)
        targets = self.head.targets(y_fine, y_global, dataset=session.dataset)
        outputs = torch.unique(targets) if self.settings["ce_scope"] == "present" else torch.arange(self.head.n_outputs)
        position = torch.full((self.head.n_outputs,), -1, dtype=torch.long)
        position[outputs] = torch.arange(outputs.numel())
        columns = outputs.to(self.device)

        def loss(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(self.head(self.backbone(xb))[:, columns], yb)

        settings = fit_settings(self.config, self.settings, session_epochs(self.config, self.sessions == 0))
        fit_epochs(
            loss,
            [*self.backbone.parameters(), *self.head.parameters()],
            [x, position[targets]],
            settings,
            seed=derive_seed(self.config.seed, session.index, "fit"),
            device=self.device,
            train=[self.backbone, self.head],
        )
        self.memory.update(session, self._features, derive_seed(self.config.seed, session.index, "memory"))
        self.sessions += 1
