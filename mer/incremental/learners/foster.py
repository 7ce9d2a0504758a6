"""FOSTER (Wang et al., ECCV 2022): feature boosting then compression, at constant model size.

First session: one backbone and head trained with CE. Every later session (PyCIL's
`models/foster.py`, reference/incremental.md §7.1):

1. **Boosting.** The old backbone F_old and old head are frozen (requires_grad False, eval);
   a new backbone F_new starts from F_old. The teacher classifies [F_old(x), F_new(x)] with the
   old head widened and grown (old rows and columns copied), plus `fe` head on F_new(x) alone
   over all outputs. Loss = CE(logits / w, y) + CE(fe_logits, y)
   + λ_okd · KD_T(logits[:, :old], old_logits), with per-class weights w from the effective
   number of samples (Cui et al. 2019): w_c ∝ (1 − β1) / (1 − β1^{n_c}), normalised to sum to the
   number of outputs. n_c is the number of training samples of output c in this session's
   training data (session + exemplars): PyCIL's `[memory per class] * old + [samples per new
   class]`, where IMER's code sums sample *indices* instead of counting (§7.2).
2. **Compression.** A student with one backbone, initialised from F_old, with the old head
   grown for the session's outputs (PyCIL `copy_fc(oldfc)`), is distilled from the teacher with
   balanced KD: the teacher's softened probabilities are re-weighted by β2 class weights and
   renormalised. The student replaces the model, so its size never grows.

Old outputs with no training sample (memory 0 with the RCH head: every old fine class) have
n_c = 0, where the effective-number weight divides by zero (PyCIL gets inf, then NaN). Counts
are clamped to 1 for the weights: such a class gets the largest weight, the one of a class
with a single sample; the recorded `counts` keep the true zeros. Not implemented (PyCIL
defaults off): weight aligning of teacher/student (`is_teacher_wa`, `is_student_wa`), the
`oofc: az` option. As PyCIL, compression uses no weight decay.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from mer.errors import ConfigError
from mer.incremental.learner import LabelSpace, LearnerConfig, SessionData, register_learner
from mer.incremental.learners.base import BackboneHeadLearner
from mer.incremental.training import (
    FIT_DEFAULTS,
    derive_seed,
    fit_epochs,
    fit_settings,
    predict,
    read_settings,
    seeded,
)

# IMER's FOSTER settings (β1 0.96, β2 0.97, T 2); PyCIL's λ_okd 1. Epochs default to epochs_later.
DEFAULTS: dict[str, Any] = {
    **FIT_DEFAULTS,
    "beta1": 0.96,
    "beta2": 0.97,
    "T": 2.0,
    "lambda_okd": 1.0,
    "boosting_epochs": None,
    "compression_epochs": None,
    "memory_policy": "herding",
}


def class_counts(targets: torch.Tensor, n_outputs: int) -> torch.Tensor:
    """Number of training samples per output (a count, not a sum of indices)."""
    return torch.bincount(targets.cpu(), minlength=n_outputs)


def effective_number_weights(counts: torch.Tensor, beta: float) -> torch.Tensor:
    """(1 − β)/(1 − β^n) per class, counts clamped to ≥ 1, normalised to sum to the number of classes."""
    effective = 1.0 - torch.pow(beta, counts.clamp(min=1).double())
    weights = (1.0 - beta) / effective
    return (weights / weights.sum() * counts.numel()).float()


def kd_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """PyCIL's KD: −Σ softmax(teacher/T) · log_softmax(student/T), averaged over the batch."""
    soft = torch.softmax(teacher / temperature, dim=1)
    return -(soft * torch.log_softmax(student / temperature, dim=1)).sum() / student.shape[0]


def balanced_kd_loss(
    student: torch.Tensor, teacher: torch.Tensor, temperature: float, weights: torch.Tensor
) -> torch.Tensor:
    """FOSTER's balanced KD: teacher probabilities re-weighted per class and renormalised."""
    soft = torch.softmax(teacher / temperature, dim=1) * weights
    soft = soft / soft.sum(dim=1, keepdim=True)
    return -(soft * torch.log_softmax(student / temperature, dim=1)).sum() / student.shape[0]


@register_learner("foster")
class FOSTER(BackboneHeadLearner):
    """Boosting a new backbone on the residual, then compressing back to one (scores and size: the base's)."""

    def __init__(self, config: LearnerConfig, labels: LabelSpace) -> None:
        settings = read_settings(config, DEFAULTS, "foster")
        for key in ("boosting_epochs", "compression_epochs"):
            value = settings[key]
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ConfigError(f"foster: {key} must be null or an integer >= 0, got {value!r}")
        super().__init__(config, labels, settings)
        self.counts: torch.Tensor | None = None  # samples per output in the latest boosting session

    def learn(self, session: SessionData) -> None:
        """First session: CE. Later: boosting, then compression into a single-backbone student."""
        x, y_fine, y_global = self.memory.training_data(session)
        if self.sessions == 0:
            with seeded(derive_seed(self.config.seed, session.index, "grow")):
                self.head.grow(session)
            targets = self.head.targets(y_fine, y_global, dataset=session.dataset)
            self._fit_single(x, targets, session, self.config.epochs)
        else:
            self._boost_and_compress(x, y_fine, y_global, session)
        self.memory.update(session, self._features, derive_seed(self.config.seed, session.index, "memory"))
        self.sessions += 1

    def _epochs(self, key: str) -> int:
        value = self.settings[key]
        return self.config.epochs_later if value is None else int(value)

    def _fit_single(self, x: torch.Tensor, targets: torch.Tensor, session: SessionData, epochs: int) -> None:
        def loss(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
            return F.cross_entropy(self.head(self.backbone(xb)), yb)

        fit_epochs(
            loss,
            [*self.backbone.parameters(), *self.head.parameters()],
            [x, targets],
            fit_settings(self.config, self.settings, epochs),
            seed=derive_seed(self.config.seed, session.index, "fit"),
            device=self.device,
            train=[self.backbone, self.head],
        )

    def _boost_and_compress(
        self, x: torch.Tensor, y_fine: torch.Tensor, y_global: torch.Tensor, session: SessionData
    ) -> None:
        old_backbone = self.backbone.requires_grad_(False).eval()
        old_head = self.head.requires_grad_(False).eval()
        n_old = old_head.n_outputs
        with seeded(derive_seed(self.config.seed, session.index, "grow")):
            new_backbone = copy.deepcopy(old_backbone).requires_grad_(True)
            teacher_head = copy.deepcopy(old_head).requires_grad_(True)
            teacher_head.widen(2 * self.dim)
            teacher_head.grow(session)
            fe_head = nn.Linear(self.dim, teacher_head.n_outputs).to(self.device)
            student_head = copy.deepcopy(old_head).requires_grad_(True)
            student_head.grow(session)
        student_backbone = copy.deepcopy(old_backbone).requires_grad_(True)
        targets = teacher_head.targets(y_fine, y_global, dataset=session.dataset)
        self.counts = class_counts(targets, teacher_head.n_outputs)
        temperature = float(self.settings["T"])

        # Boosting: the old model is frozen and deterministic, so its logits are computed once.
        old_logits = predict(lambda xb: old_head(old_backbone(xb)), x, self.device, self.config.batch_size)
        w1 = effective_number_weights(self.counts, self.settings["beta1"]).to(self.device)

        def boosting_loss(xb: torch.Tensor, yb: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
            new = new_backbone(xb)
            logits = teacher_head(torch.cat([old_backbone(xb), new], dim=1))
            return (
                F.cross_entropy(logits / w1, yb)
                + F.cross_entropy(fe_head(new), yb)
                + self.settings["lambda_okd"] * kd_loss(logits[:, :n_old], old, temperature)
            )

        fit_epochs(
            boosting_loss,
            [*new_backbone.parameters(), *teacher_head.parameters(), *fe_head.parameters()],
            [x, targets, old_logits],
            fit_settings(self.config, self.settings, self._epochs("boosting_epochs")),
            seed=derive_seed(self.config.seed, session.index, "boosting"),
            device=self.device,
            train=[new_backbone, teacher_head, fe_head],
            frozen=[old_backbone],
            stage="boosting",
        )

        # Compression: the teacher is fixed too; distil its logits into the student.
        teacher_logits = predict(
            lambda xb: teacher_head(torch.cat([old_backbone(xb), new_backbone(xb)], dim=1)),
            x,
            self.device,
            self.config.batch_size,
        )
        w2 = effective_number_weights(self.counts, self.settings["beta2"]).to(self.device)

        def compression_loss(xb: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
            return balanced_kd_loss(student_head(student_backbone(xb)), teacher, temperature, w2)

        fit_epochs(
            compression_loss,
            [*student_backbone.parameters(), *student_head.parameters()],
            [x, teacher_logits],
            fit_settings(self.config, self.settings, self._epochs("compression_epochs"), weight_decay=0.0),
            seed=derive_seed(self.config.seed, session.index, "compression"),
            device=self.device,
            train=[student_backbone, student_head],
            stage="compression",
        )
        self.backbone, self.head = student_backbone, student_head
