"""Inner validation carved from a fold's training subjects only, for epoch selection without the test fold.

params.yaml `experiments.<name>.inner_validation: {fraction, seed}` holds out
max(1, round(fraction × n)) of the fold's n training subjects (drawn with
`numpy.random.default_rng(seed)` from the sorted (dataset, subject) pairs, at least one
subject left to train on). The model trains on the rest; after every epoch its pooled
macro-F1 (UF1) on the held-out subjects is computed, and the weights of the best epoch
(earliest on ties) predict the test fold. Without `inner_validation` the last epoch is used.
`inner_folds` deals the training subjects into the folds of nested selection
(`experiments.<name>.tuning`, mer.training.tuning).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mer.errors import InputDataError

TUNED = (
    "nested selection: the grid candidate with the best pooled UF1 over inner subject folds of the "
    "training subjects, retrained on all of them for its epoch budget (test fold read once, after training)"
)
LAST_EPOCH = "last epoch (fixed budget; test fold read once, after training)"
INNER_VALIDATION = (
    "best inner-validation UF1 epoch (validation subjects carved from the training subjects; "
    "test fold read once, after training)"
)


def selection_rule(experiment: dict[str, Any]) -> str:
    """How the predicting weights are chosen, in words recorded with every result."""
    if experiment.get("tuning"):
        return TUNED
    return INNER_VALIDATION if experiment.get("inner_validation") else LAST_EPOCH


def carve(train_rows: pd.DataFrame, options: dict[str, Any], fold: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit rows, validation rows): whole training subjects held out, seeded, never a test subject."""
    subjects = sorted(set(zip(train_rows["dataset"], train_rows["subject"], strict=True)))
    if len(subjects) < 2:
        raise InputDataError(f"fold {fold!r}: inner validation needs at least two training subjects")
    count = min(max(1, round(options["fraction"] * len(subjects))), len(subjects) - 1)
    rng = np.random.default_rng(options["seed"])
    held = {subjects[i] for i in rng.choice(len(subjects), size=count, replace=False)}
    in_val = np.array([key in held for key in zip(train_rows["dataset"], train_rows["subject"], strict=True)])
    return train_rows[~in_val].reset_index(drop=True), train_rows[in_val].reset_index(drop=True)


def inner_folds(train_rows: pd.DataFrame, count: int, seed: int, fold: str) -> list[np.ndarray]:
    """`count` subject-disjoint validation folds over `train_rows`: positions of each fold's rows.

    The sorted (dataset, subject) pairs are permuted with `numpy.random.default_rng(seed)` and
    dealt round-robin, so fold sizes differ by at most one subject and every training subject
    validates exactly once.
    """
    subjects = sorted(set(zip(train_rows["dataset"], train_rows["subject"], strict=True)))
    if len(subjects) < count:
        raise InputDataError(
            f"fold {fold!r}: tuning.inner_folds is {count} but the fold has only {len(subjects)} training subjects"
        )
    order = np.random.default_rng(seed).permutation(len(subjects))
    which = {subjects[i]: position % count for position, i in enumerate(order)}
    assigned = np.array([which[key] for key in zip(train_rows["dataset"], train_rows["subject"], strict=True)])
    return [np.flatnonzero(assigned == k) for k in range(count)]
