"""Evaluation protocols: folds materialised from a manifest, hashed and leakage-checked."""

from mer.protocols.folds import (
    FoldError,
    LeakageError,
    check_no_leakage,
    fold_by_name,
    folds_hash,
    read_folds,
    verify_hash,
    write_folds,
)
from mer.protocols.loso import loso_folds, loso_from_pairs, subject_pairs
from mer.protocols.registry import PROTOCOLS, make_folds, planned_fold_names

__all__ = [
    "PROTOCOLS",
    "FoldError",
    "LeakageError",
    "check_no_leakage",
    "fold_by_name",
    "folds_hash",
    "loso_folds",
    "loso_from_pairs",
    "make_folds",
    "planned_fold_names",
    "read_folds",
    "subject_pairs",
    "verify_hash",
    "write_folds",
]
