"""Multi-corpus protocols of MEGC2019: the composite (CDE) LOSO and holdout-database (HDE) folds.

Both work on a concatenated manifest whose `dataset` column tells the corpora apart
(reference/datasets.md §3.2, §6.1). CDE is LOSO keyed on (dataset, subject) over two or more
corpora; its per-dataset sub-scores come from the pooled predictions (mer.metrics). HDE holds
out one whole corpus per fold and trains on all the others.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mer.errors import InputDataError
from mer.protocols.folds import folds_hash
from mer.protocols.loso import loso_from_pairs


def _datasets(pairs: list[tuple[str, str]], protocol: str) -> list[str]:
    names = sorted({dataset for dataset, _ in pairs})
    if len(names) < 2:
        raise InputDataError(f"{protocol} needs at least two datasets, got {names}")
    return names


def cde_from_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """MEGC2019 composite: LOSO over (dataset, subject) of at least two corpora."""
    pairs = sorted({(str(d), str(s)) for d, s in pairs})
    _datasets(pairs, "the composite (CDE) protocol")
    folds = loso_from_pairs(pairs)["folds"]
    return {"protocol": "cde", "level": "subject", "hash": folds_hash(folds), "folds": folds}


def hde_from_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Holdout-database: one fold per corpus, named "holdout-<dataset>"; train on every other corpus."""
    pairs = sorted({(str(d), str(s)) for d, s in pairs})
    folds = [
        {
            "name": f"holdout-{held}",
            "test": [[d, s] for d, s in pairs if d == held],
            "train": [[d, s] for d, s in pairs if d != held],
        }
        for held in _datasets(pairs, "the holdout-database (HDE) protocol")
    ]
    return {"protocol": "hde", "level": "subject", "hash": folds_hash(folds), "folds": folds}
