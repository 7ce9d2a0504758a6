"""Evaluation protocols: folds materialised from a manifest, hashed and leakage-checked."""

from mer.protocols.folds import (
    FoldError,
    LeakageError,
    check_no_leakage,
    fold_by_name,
    folds_hash,
    level_of,
    member_keys,
    read_folds,
    verify_hash,
    write_folds,
)
from mer.protocols.composite import cde_from_pairs, hde_from_pairs
from mer.protocols.kfold import kfold_folds
from mer.protocols.loso import loso_folds, loso_from_pairs, subject_pairs
from mer.protocols.registry import PROTOCOLS, make_folds, planned_fold_names, protocol_name, protocol_spec

__all__ = [
    "PROTOCOLS",
    "FoldError",
    "LeakageError",
    "cde_from_pairs",
    "check_no_leakage",
    "fold_by_name",
    "folds_hash",
    "hde_from_pairs",
    "kfold_folds",
    "level_of",
    "loso_folds",
    "loso_from_pairs",
    "make_folds",
    "member_keys",
    "planned_fold_names",
    "protocol_name",
    "protocol_spec",
    "read_folds",
    "subject_pairs",
    "verify_hash",
    "write_folds",
]
