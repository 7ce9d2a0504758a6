"""k-fold splits of the incremental benchmark (reference/incremental.md §4), made deterministic.

Sessions are the experiment's datasets in their configured order. Within each session the
units are sorted, permuted by `numpy.random.default_rng(seed)` (one generator, sessions in
order) and dealt round-robin into `n_folds` parts; part k is session k's test set and the
rest of the session trains. **Fold binding**: fold k takes part k of every session, so K
runs cover all sessions (not K^T), and each fold records its per-session split under
`sessions` for incremental learners; its `train`/`test` are the unions over sessions.

* SLCV deals (dataset, subject) pairs: subject-level, the leakage guard applies.
* ILCV deals (dataset, subject, clip) samples: instance-level, **not subject-independent**
  (IMER's `KFold(5, shuffle=True)` equivalent); the guard only keeps samples apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mer.errors import InputDataError
from mer.protocols.folds import folds_hash


def _deal(units: list[tuple[str, ...]], n_folds: int, rng: np.random.Generator) -> list[list[list[str]]]:
    """Sorted units, permuted, dealt round-robin into n_folds parts (each part sorted)."""
    order = rng.permutation(len(units))
    parts: list[list[list[str]]] = [[] for _ in range(n_folds)]
    for position, index in enumerate(order):
        parts[position % n_folds].append(list(units[index]))
    return [sorted(part) for part in parts]


def kfold_folds(
    sessions: Sequence[tuple[str, list[tuple[str, ...]]]], protocol: str, level: str, n_folds: int, seed: int
) -> dict[str, Any]:
    """Folds bound across sessions from [(dataset, units)], units being pairs or samples."""
    if n_folds < 2:
        raise InputDataError(f"{protocol} needs at least 2 folds, got {n_folds}")
    rng = np.random.default_rng(seed)
    dealt = []
    for dataset, units in sessions:
        units = sorted(set(units))
        if len(units) < n_folds:
            raise InputDataError(f"{protocol}: {len(units)} {level}s cannot fill {n_folds} folds", dataset=dataset)
        dealt.append((dataset, _deal(units, n_folds, rng)))
    folds = []
    for k in range(n_folds):
        per_session = [
            {
                "dataset": dataset,
                "test": parts[k],
                "train": sorted(unit for j, part in enumerate(parts) if j != k for unit in part),
            }
            for dataset, parts in dealt
        ]
        folds.append(
            {
                "name": f"{protocol}-k{k}",
                "test": sorted(unit for session in per_session for unit in session["test"]),
                "train": sorted(unit for session in per_session for unit in session["train"]),
                "sessions": per_session,
            }
        )
    return {
        "protocol": protocol,
        "level": level,
        "n_folds": n_folds,
        "seed": seed,
        "hash": folds_hash(folds),
        "folds": folds,
    }
