"""RanPAC (McDonnell et al., NeurIPS 2023): first-session adaptation, then a frozen backbone and a ridge
classifier on random-projected features.

Phase 1 (first session only): the backbone and head are trained with CE; IMER's configuration
fine-tunes the full backbone (reference/incremental.md §7.2) rather than the original's PETL
module, and so does `mer` (`adapt_first_session: false` skips phase 1, as the original does
for ResNet backbones). The backbone is then frozen (requires_grad False, eval mode).

Phase 2 (every session, the first included): h = ReLU(f·W_rand) with W_rand ∈ R^{d×M} ~ N(0, 1)
drawn once from a seeded generator; G += HᵀH and Q += HᵀY (Y one-hot over the head's
outputs: fine classes for `rch`, global emotions for `expanding`); W = (G + λI)⁻¹Q. λ is
chosen as the original does, from 10^-8 … 10^8 by fitting on 80% of the session's features
and minimising the MSE on the other 20%, but the split is a seeded permutation (the original
takes the first 80% of a shuffled loader) and all candidates are solved from ONE
eigendecomposition G_fit = V diag(s) Vᵀ: W_λ = V diag(1/(s+λ)) Vᵀ Q_fit. G and Q are float64.
Logits are h·W (the original's plain head when `use_RP`; `rp_head: cosine` gives IMER/PILOT's
CosineLinear, which L2-normalises h and W's columns), remapped to global emotions by the
head's rule.

RanPAC is exemplar-free: G and Q already hold every past sample exactly once. With
memory > 0 the exemplars are kept (and reported) and join only the λ-selection features, so
λ is validated on old classes too; they never enter G or Q twice.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from mer.errors import ConfigError, InputDataError
from mer.incremental.learner import LabelSpace, LearnerConfig, SessionData, register_learner
from mer.incremental.learners.base import BackboneHeadLearner
from mer.incremental.training import (
    FIT_DEFAULTS,
    derive_seed,
    fit_epochs,
    fit_settings,
    parameter_counts,
    read_settings,
    seeded,
)

DEFAULTS: dict[str, Any] = {
    **FIT_DEFAULTS,
    "M": 10000,  # random projection width (the original's default)
    "ridges": [10.0**k for k in range(-8, 9)],
    "fit_fraction": 0.8,
    "rp_head": "linear",
    "adapt_first_session": True,
    "memory_policy": "herding",
}
RP_HEADS = ("linear", "cosine")


def ridge_solutions(g: torch.Tensor, q: torch.Tensor, ridges: list[float]) -> list[torch.Tensor]:
    """(G + λI)⁻¹Q for every λ from one symmetric eigendecomposition of G."""
    eigenvalues, vectors = torch.linalg.eigh(g)
    projected = vectors.T @ q
    return [vectors @ (projected / (eigenvalues + ridge).unsqueeze(1)) for ridge in ridges]


def select_ridge(h: torch.Tensor, y: torch.Tensor, ridges: list[float], fit_fraction: float, seed: int) -> float:
    """λ minimising the held-out MSE of a ridge fit on a seeded `fit_fraction` of (h, y)."""
    n = h.shape[0]
    n_fit = min(n - 1, max(1, int(n * fit_fraction)))
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(h.device)
    fit, held = order[:n_fit], order[n_fit:]
    solutions = ridge_solutions(h[fit].T @ h[fit], h[fit].T @ y[fit], ridges)
    losses = torch.stack([((h[held] @ w - y[held]) ** 2).mean() for w in solutions])
    return ridges[int(torch.argmin(losses))]


@register_learner("ranpac")
class RanPAC(BackboneHeadLearner):
    """Phase-1 adaptation, frozen backbone, random projection + ridge classifier (see module doc)."""

    def __init__(self, config: LearnerConfig, labels: LabelSpace) -> None:
        settings = read_settings(config, DEFAULTS, "ranpac")
        if settings["rp_head"] not in RP_HEADS:
            raise ConfigError(f"ranpac: rp_head must be one of {RP_HEADS}, got {settings['rp_head']!r}")
        if settings["M"] < 1 or not settings["ridges"] or not 0 < settings["fit_fraction"] < 1:
            raise ConfigError("ranpac: M must be >= 1, ridges non-empty and 0 < fit_fraction < 1")
        super().__init__(config, labels, settings)
        m = self.settings["M"]
        generator = torch.Generator().manual_seed(derive_seed(config.seed, "W_rand"))
        # Drawn on the CPU (same values on every device); the linear algebra runs on the learner's device.
        self.w_rand = torch.randn(self.dim, m, generator=generator, dtype=torch.float64).to(self.device)
        self.g = torch.zeros(m, m, dtype=torch.float64, device=self.device)
        self.q = torch.zeros(m, 0, dtype=torch.float64, device=self.device)
        self.w = torch.zeros(m, 0, dtype=torch.float64, device=self.device)  # ridge weights: M × head outputs
        self.ridges: list[float] = []  # λ chosen per session

    def learn(self, session: SessionData) -> None:
        """Phase 1 in the first session, then accumulate G, Q and re-solve the ridge head."""
        if session.y_fine.numel() < 2:
            raise InputDataError("RanPAC's λ selection needs at least 2 training samples", dataset=session.dataset)
        with seeded(derive_seed(self.config.seed, session.index, "grow")):
            self.head.grow(session)
        if self.sessions == 0 and self.settings["adapt_first_session"]:
            self._adapt(session)
        self.backbone.requires_grad_(False).eval()
        self.head.requires_grad_(False)  # after phase 1 only its output layout is used
        targets = self.head.targets(session.y_fine, session.y_global, dataset=session.dataset)
        h = self._projected(session.x)
        y = F.one_hot(targets, self.head.n_outputs).double().to(self.device)
        self.q = torch.cat([self.q, self.q.new_zeros(self.q.shape[0], y.shape[1] - self.q.shape[1])], dim=1)
        self.g += h.T @ h
        self.q += h.T @ y
        h_select, y_select = h, y
        if len(self.memory):
            memory_targets = self.head.targets(self.memory.y_fine, self.memory.y_global, dataset=session.dataset)
            h_select = torch.cat([h, self._projected(self.memory.x)])
            y_select = torch.cat([y, F.one_hot(memory_targets, self.head.n_outputs).double().to(self.device)])
        ridge = select_ridge(
            h_select,
            y_select,
            self.settings["ridges"],
            self.settings["fit_fraction"],
            derive_seed(self.config.seed, session.index, "ridge split"),
        )
        eye = torch.eye(self.g.shape[0], dtype=torch.float64, device=self.device)
        self.w = torch.linalg.solve(self.g + ridge * eye, self.q)
        self.ridges.append(ridge)
        self.memory.update(session, self._features, derive_seed(self.config.seed, session.index, "memory"))
        self.sessions += 1

    def _adapt(self, session: SessionData) -> None:
        """Phase 1: full fine-tuning of backbone and head with CE on the first session."""
        targets = self.head.targets(session.y_fine, session.y_global, dataset=session.dataset)

        def loss(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(self.head(self.backbone(xb)), yb)

        fit_epochs(
            loss,
            [*self.backbone.parameters(), *self.head.parameters()],
            [session.x, targets],
            fit_settings(self.config, self.settings, self.config.epochs),
            seed=derive_seed(self.config.seed, session.index, "fit"),
            device=self.device,
            train=[self.backbone, self.head],
        )

    def _projected(self, x: torch.Tensor) -> torch.Tensor:
        """h = ReLU(f·W_rand) in float64, on the learner's device."""
        return torch.relu(self._features(x).to(self.device).double() @ self.w_rand)

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        if self.settings["rp_head"] == "cosine":
            return F.normalize(h, dim=1) @ F.normalize(self.w, dim=0)
        return h @ self.w

    def global_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Ridge logits on projected features, remapped to global emotions (-inf where unseen)."""
        return self.head.to_global(self._logits(self._projected(x)).float()).cpu()

    def parameter_counts(self) -> dict[str, int]:
        """Backbone, W_rand and ridge weights; "trainable" counts gradient-trained ones (0 after phase 1)."""
        counts = parameter_counts(self.backbone)
        return {"total": counts["total"] + self.w_rand.numel() + self.w.numel(), "trainable": counts["trainable"]}
