"""Leave-one-subject-out folds keyed on (dataset, subject), so composites never merge subjects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pandas as pd

from mer.errors import InputDataError
from mer.protocols.folds import folds_hash


def subject_pairs(manifest: pd.DataFrame) -> list[tuple[str, str]]:
    """Sorted unique (dataset, subject) pairs of a manifest, as strings."""
    missing = {"dataset", "subject"} - set(manifest.columns)
    if missing:
        raise InputDataError(f"manifest lacks columns {sorted(missing)}")
    return sorted({(str(d), str(s)) for d, s in zip(manifest["dataset"], manifest["subject"], strict=True)})


def loso_from_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """One fold per (dataset, subject), sorted: that subject is the test set, every other one trains."""
    pairs = sorted({(str(d), str(s)) for d, s in pairs})
    if len(pairs) < 2:
        raise InputDataError(f"LOSO needs at least two subjects, got {len(pairs)}")
    folds = [
        {
            "name": f"{dataset}-{subject}",
            "test": [[dataset, subject]],
            "train": [[d, s] for d, s in pairs if (d, s) != (dataset, subject)],
        }
        for dataset, subject in pairs
    ]
    return {"protocol": "loso", "level": "subject", "hash": folds_hash(folds), "folds": folds}


def loso_folds(manifest: pd.DataFrame) -> dict[str, Any]:
    """LOSO folds over the subjects of `manifest` (the folds.json structure)."""
    return loso_from_pairs(subject_pairs(manifest))
