"""Continual-learning metrics of one IMER trial and their mean ± SD over folds (docs/imer.md, "Metrics").

Sessions are numbered t, j = 1..T here and 0-based in arrays. R[t, j] is the accuracy over
global emotions on session j's test part after training session t (j ≤ t; NaN above the
diagonal), n_j the size of that test part.

* A_t = Σ_{j≤t} n_j R[t, j] / Σ_{j≤t} n_j: accuracy on the cumulative test set (sample-weighted,
  the IMER paper's per-session number); B_t = (1/t) Σ_{j≤t} R[t, j]: the session-balanced mean
  (B_T is GEM's ACC).
* Ā = (1/T) Σ_t A_t (average incremental accuracy, iCaRL); A_T the last accuracy.
* Forgetting (Chaudhry et al. 2018): F = (1/(T−1)) Σ_{j<T} [max_{l∈[j, T−1]} R[l, j] − R[T, j]],
  the max over the rows *before* the last, no flooring at 0 (Mammoth/PILOT take the max over
  all rows and floor each term at 0; that variant is never negative).
* BWT (Lopez-Paz & Ranzato 2017) = (1/(T−1)) Σ_{j<T} (R[T, j] − R[j, j]).
* UF1_t, UAR_t (`mer.metrics`, classes undefined for a metric left out of its mean) and the
  9×9 global confusion on the cumulative test set after session t; per-class recall at T; the
  predicted-class and true-class histograms after each session (the confusion's column and row sums).
F and BWT are undefined (None) for a single session.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mer.metrics import confusion_matrix, recall_per_class, scores_from_confusion

Predictions = Sequence[Sequence[Sequence[int]]]  # [t][j] → predicted global ids on session j's test part, j ≤ t
FORGETTING_VARIANT = (
    "Chaudhry et al. 2018: max over l in [j, T-1] of R[l, j] minus R[T, j], averaged over j < T; no floor"
)
# Scalar metrics of a trial, in table order.
SCALARS = (
    "avg_incremental_accuracy",
    "last_accuracy",
    "forgetting",
    "bwt",
    "uf1_last",
    "uar_last",
    "acc_balanced_last",
)


def accuracy_matrix(predictions: Predictions, labels: Sequence[Sequence[int]]) -> np.ndarray:
    """R (T × T): R[t, j] = accuracy of predictions[t][j] against labels[j]; NaN for j > t."""
    sessions = len(labels)
    if len(predictions) != sessions or any(len(row) != t + 1 for t, row in enumerate(predictions)):
        raise ValueError(f"predictions must hold t + 1 test parts after each of the {sessions} sessions")
    matrix = np.full((sessions, sessions), np.nan)
    for t, row in enumerate(predictions):
        for j, predicted in enumerate(row):
            truth = np.asarray(labels[j])
            if truth.size == 0 or len(predicted) != truth.size:
                raise ValueError(f"session {j + 1}: {len(predicted)} predictions for {truth.size} test samples")
            matrix[t, j] = float((np.asarray(predicted) == truth).mean())
    return matrix


def cumulative_accuracy(matrix: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """A_t: accuracy on the union of the test parts of sessions ≤ t (sample-weighted)."""
    n = np.asarray(sizes, dtype=float)
    return np.array([float((matrix[t, : t + 1] * n[: t + 1]).sum() / n[: t + 1].sum()) for t in range(len(n))])


def balanced_accuracy(matrix: np.ndarray) -> np.ndarray:
    """B_t: the mean of R[t, j] over sessions j ≤ t (each session weighs the same)."""
    return np.array([float(matrix[t, : t + 1].mean()) for t in range(len(matrix))])


def forgetting(matrix: np.ndarray) -> float | None:
    """Chaudhry forgetting (FORGETTING_VARIANT); None for one session."""
    last = len(matrix) - 1
    if last == 0:
        return None
    return float(np.mean([matrix[j:last, j].max() - matrix[last, j] for j in range(last)]))


def backward_transfer(matrix: np.ndarray) -> float | None:
    """BWT: mean over j < T of R[T, j] − R[j, j]; None for one session."""
    last = len(matrix) - 1
    if last == 0:
        return None
    return float(np.mean([matrix[last, j] - matrix[j, j] for j in range(last)]))


def trial_metrics(predictions: Predictions, labels: Sequence[Sequence[int]], n_global: int) -> dict[str, Any]:
    """Every metric of one trial from its predictions (global ids) and test labels per session."""
    matrix = accuracy_matrix(predictions, labels)
    sizes = [len(part) for part in labels]
    cumulative = cumulative_accuracy(matrix, sizes)
    balanced = balanced_accuracy(matrix)
    classes = list(range(n_global))
    confusions = [
        confusion_matrix([y for part in labels[: t + 1] for y in part], [p for part in row for p in part], classes)
        for t, row in enumerate(predictions)
    ]
    scores = [scores_from_confusion(cm) for cm in confusions]
    recall = recall_per_class(confusions[-1])
    return {
        "R": [[None if np.isnan(v) else float(v) for v in row] for row in matrix],
        "n_test": sizes,
        "cumulative_accuracy": cumulative.tolist(),
        "balanced_accuracy": balanced.tolist(),
        "avg_incremental_accuracy": float(cumulative.mean()),
        "avg_balanced_accuracy": float(balanced.mean()),
        "last_accuracy": float(cumulative[-1]),
        "acc_balanced_last": float(balanced[-1]),
        "forgetting": forgetting(matrix),
        "forgetting_variant": FORGETTING_VARIANT,
        "bwt": backward_transfer(matrix),
        "uf1": [float(s["uf1"]) for s in scores],
        "uar": [float(s["uar"]) for s in scores],
        "uf1_last": float(scores[-1]["uf1"]),
        "uar_last": float(scores[-1]["uar"]),
        "per_class_recall": [None if np.isnan(v) else float(v) for v in recall],
        "confusion": confusions[-1].tolist(),
        "predicted_counts": [cm.sum(axis=0).astype(int).tolist() for cm in confusions],
        "true_counts": [cm.sum(axis=1).astype(int).tolist() for cm in confusions],
    }


def mean_sd(values: Sequence[float | None]) -> dict[str, Any]:
    """Mean and sample SD (ddof 1; None for one value) over folds; None entries must be all or none."""
    present = [v for v in values if v is not None]
    if not present:
        return {"mean": None, "sd": None, "n": 0}
    if len(present) != len(values):
        raise ValueError("a metric is defined for some folds only")
    array = np.asarray(present, dtype=float)
    return {"mean": float(array.mean()), "sd": float(array.std(ddof=1)) if array.size > 1 else None, "n": array.size}


def summarise(trials: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± SD over folds of each trial's metrics; R and the confusion averaged / pooled.

    `trials` are `trial_metrics` results of the folds of one (protocol, backbone, learner).
    The pooled confusion sums the folds' confusions at T: since the folds' test parts
    partition the data, its UF1/UAR are the MEGC-style pooled scores over all samples.
    """
    if not trials:
        raise ValueError("no trials to summarise")
    sessions = len(trials[0]["cumulative_accuracy"])
    pooled = np.sum([np.asarray(trial["confusion"]) for trial in trials], axis=0)
    pooled_scores = scores_from_confusion(pooled)
    mean_r = [
        [float(np.mean([trial["R"][t][j] for trial in trials])) if j <= t else None for j in range(sessions)]
        for t in range(sessions)
    ]
    return {
        "n_folds": len(trials),
        **{key: mean_sd([trial[key] for trial in trials]) for key in (*SCALARS, "avg_balanced_accuracy")},
        "cumulative_accuracy": [
            mean_sd([trial["cumulative_accuracy"][t] for trial in trials]) for t in range(sessions)
        ],
        "balanced_accuracy": [mean_sd([trial["balanced_accuracy"][t] for trial in trials]) for t in range(sessions)],
        "R_mean": mean_r,
        "confusion_pooled": pooled.tolist(),
        "uf1_pooled_last": float(pooled_scores["uf1"]),
        "uar_pooled_last": float(pooled_scores["uar"]),
        "per_class_recall_pooled": [None if np.isnan(v) else float(v) for v in recall_per_class(pooled)],
        **{
            f"{kind}_pooled": [
                np.sum([trial[f"{kind}_counts"][t] for trial in trials], axis=0).astype(int).tolist()
                for t in range(sessions)
            ]
            for kind in ("predicted", "true")
        },
    }
