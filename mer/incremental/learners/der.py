"""DER (Yan et al., CVPR 2021): one new feature extractor per session, old extractors frozen.

At session t > 1 the learner appends extractor F_t initialised from F_{t−1} and **freezes**
F_1 … F_{t−1} (requires_grad False and eval mode, so neither weights nor BatchNorm statistics
move; IMER's code only calls `.eval()`, so its old backbones drift — reference/incremental.md
§7.2). The head classifies over all seen outputs on [F_1(x), …, F_t(x)]: old rows and old
columns are copied, new columns and rows initialised (PyCIL/PILOT `update_fc`). An auxiliary
classifier on F_t(x) alone predicts the session's new outputs plus one "old" class (all older
outputs lumped), and the loss is CE + CE_aux; the first session trains with CE alone.

As in PyCIL/PILOT there is no channel masking or pruning; as in PILOT (IMER's base, where
PyCIL's weight aligning of new rows is commented out) no post-hoc classifier correction, and
not the paper's classifier re-training on balanced exemplars either. Training
data = the session plus exemplars (memory > 0, herding on the concatenated features after
training, as PyCIL).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from mer.incremental.backbones import backbone_from_config
from mer.incremental.heads import head_from_config
from mer.incremental.learner import LabelSpace, Learner, LearnerConfig, SessionData, register_learner
from mer.incremental.memory import memory_from_config
from mer.incremental.training import (
    FIT_DEFAULTS,
    derive_seed,
    fit_epochs,
    fit_settings,
    parameter_counts,
    predict,
    read_settings,
    seeded,
    session_epochs,
)

DEFAULTS: dict[str, Any] = {**FIT_DEFAULTS, "memory_policy": "herding"}


@register_learner("der")
class DER(Learner):
    """Dynamically expandable representation: frozen old extractors, a new one per session."""

    def __init__(self, config: LearnerConfig, labels: LabelSpace) -> None:
        super().__init__(config, labels)
        self.settings = read_settings(config, DEFAULTS, "der")
        self.device = torch.device(config.device)
        with seeded(derive_seed(config.seed, "init")):
            backbone = backbone_from_config(config)
            self.head = head_from_config(config, labels, backbone.dim)
        self.dim = backbone.dim
        self.extractors = nn.ModuleList([backbone.extractor]).to(self.device).eval()
        self.head.to(self.device)
        self.weights = backbone.weights
        self.memory = memory_from_config(config, self.settings["memory_policy"])
        self.sessions = 0

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[F_1(x), …, F_t(x)]."""
        return torch.cat([extractor(x) for extractor in self.extractors], dim=1)

    def learn(self, session: SessionData) -> None:
        """Expand (after the first session), grow the head, train CE (+ CE_aux) on the newest extractor."""
        first = self.sessions == 0
        with seeded(derive_seed(self.config.seed, session.index, "grow")):
            if not first:
                self.extractors.requires_grad_(False).eval()
                self.extractors.append(copy.deepcopy(self.extractors[-1]).requires_grad_(True))
                self.head.widen(self.dim * len(self.extractors))
            n_old = self.head.n_outputs
            n_new = self.head.grow(session)
            aux = None if first else nn.Linear(self.dim, n_new + 1).to(self.device)
        x, y_fine, y_global = self.memory.training_data(session)
        targets = self.head.targets(y_fine, y_global, dataset=session.dataset)
        aux_targets = torch.where(targets >= n_old, targets - n_old + 1, 0)
        newest = self.extractors[-1]

        def loss(xb: torch.Tensor, yb: torch.Tensor, yb_aux: torch.Tensor) -> torch.Tensor:
            old = [extractor(xb) for extractor in self.extractors[:-1]]
            new = newest(xb)
            value = F.cross_entropy(self.head(torch.cat([*old, new], dim=1)), yb)
            return value if aux is None else value + F.cross_entropy(aux(new), yb_aux)

        fit_epochs(
            loss,
            [*newest.parameters(), *self.head.parameters(), *(aux.parameters() if aux is not None else [])],
            [x, targets, aux_targets],
            fit_settings(self.config, self.settings, session_epochs(self.config, first)),
            seed=derive_seed(self.config.seed, session.index, "fit"),
            device=self.device,
            train=[newest, self.head, *([aux] if aux is not None else [])],
            frozen=list(self.extractors[:-1]),
        )
        self.memory.update(session, self._features, derive_seed(self.config.seed, session.index, "memory"))
        self.sessions += 1

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        return predict(self.features, x, self.device, self.config.batch_size)

    def global_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Head logits over concatenated features, remapped to global emotions (-inf where unseen)."""
        return predict(lambda xb: self.head.to_global(self.head(self.features(xb))), x, self.device)

    def parameter_counts(self) -> dict[str, int]:
        """All extractors (growing by one per session) and the head; only the newest extractor trains."""
        return parameter_counts(self.extractors, self.head)
