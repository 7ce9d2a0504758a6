"""folds.json: the canonical hash, the leakage guard, and atomic reading/writing.

Folds are data (docs/architecture.md, "folds.json"): every training job reads the same
materialised split, and the hash ties predictions back to it. The leakage guard runs when
folds are written, read, and when a training job starts, so a hand-edited or stale file
cannot put a subject on both sides of a fold.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from mer.atomic import write_json
from mer.errors import MerError

SubjectKey = tuple[str, str]


class FoldError(MerError):
    """folds.json is malformed, its hash does not match, or a fold name is unknown."""


class LeakageError(FoldError):
    """A subject appears in both the training and the test part of one fold."""


def folds_hash(folds: list[dict[str, Any]]) -> str:
    """SHA-256 of the folds list in canonical JSON (sorted keys, no whitespace)."""
    blob = json.dumps(folds, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


def subject_keys(pairs: list[list[str]]) -> set[SubjectKey]:
    """[[dataset, subject], …] as a set of (dataset, subject) tuples."""
    return {(str(dataset), str(subject)) for dataset, subject in pairs}


def check_no_leakage(folds: dict[str, Any]) -> None:
    """Raise LeakageError if any fold shares a (dataset, subject) between train and test.

    Also refuses duplicate fold names and empty test sets, which would make the split
    ambiguous or silently drop a subject from evaluation.
    """
    seen: set[str] = set()
    for fold in folds["folds"]:
        name = fold["name"]
        if name in seen:
            raise FoldError(f"fold name {name!r} appears twice")
        seen.add(name)
        test = subject_keys(fold["test"])
        if not test:
            raise FoldError(f"fold {name!r} has an empty test set")
        shared = sorted(test & subject_keys(fold["train"]))
        if shared:
            listed = ", ".join(f"{dataset}/{subject}" for dataset, subject in shared)
            raise LeakageError(f"fold {name!r} has subjects in both train and test: {listed}")


def verify_hash(folds: dict[str, Any]) -> None:
    """Raise FoldError when the stored hash does not match the folds list."""
    expected = folds_hash(folds["folds"])
    if folds.get("hash") != expected:
        raise FoldError(f"folds hash mismatch: stored {folds.get('hash')!r}, computed {expected!r}")


def fold_by_name(folds: dict[str, Any], name: str) -> dict[str, Any]:
    """The fold called `name`; FoldError lists the known names otherwise."""
    for fold in folds["folds"]:
        if fold["name"] == name:
            return fold
    known = ", ".join(fold["name"] for fold in folds["folds"])
    raise FoldError(f"unknown fold {name!r}; known folds: {known}")


def write_folds(folds: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Check hash and leakage, then write folds.json atomically in canonical JSON."""
    verify_hash(folds)
    check_no_leakage(folds)
    write_json(path, folds)


def read_folds(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read folds.json, verifying its hash and the leakage guard."""
    try:
        folds = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FoldError(f"folds file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise FoldError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(folds, dict) or not isinstance(folds.get("folds"), list):
        raise FoldError(f"{path} has no 'folds' list")
    verify_hash(folds)
    check_no_leakage(folds)
    return folds
