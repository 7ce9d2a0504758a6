"""Leave-one-subject-out folds keyed on (dataset, subject), so composites never merge subjects."""

from __future__ import annotations

from typing import Any

import pandas as pd

from mer.errors import InputDataError
from mer.protocols.folds import folds_hash


def subject_pairs(manifest: pd.DataFrame) -> list[tuple[str, str]]:
    """Sorted unique (dataset, subject) pairs of a manifest, as strings."""
    missing = {"dataset", "subject"} - set(manifest.columns)
    if missing:
        raise InputDataError(f"manifest lacks columns {sorted(missing)}")
    pairs = {(str(d), str(s)) for d, s in zip(manifest["dataset"], manifest["subject"], strict=True)}
    return sorted(pairs)


def loso_folds(manifest: pd.DataFrame) -> dict[str, Any]:
    """One fold per (dataset, subject): that subject is the test set, every other one trains."""
    pairs = subject_pairs(manifest)
    if len(pairs) < 2:
        raise InputDataError(f"LOSO needs at least two subjects, the manifest has {len(pairs)}")
    folds = [
        {
            "name": f"{dataset}-{subject}",
            "test": [[dataset, subject]],
            "train": [[d, s] for d, s in pairs if (d, s) != (dataset, subject)],
        }
        for dataset, subject in pairs
    ]
    return {"protocol": "loso", "hash": folds_hash(folds), "folds": folds}
