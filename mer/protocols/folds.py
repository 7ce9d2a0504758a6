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
MemberKey = tuple[str, ...]
# folds.json "level": what a fold's train/test entries name. Subject-level folds list
# [dataset, subject] pairs and must be subject-disjoint; instance-level folds (ILCV) list
# [dataset, subject, clip] samples and are only sample-disjoint (not subject-independent).
LEVELS = {"subject": 2, "instance": 3}


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


def level_of(folds: dict[str, Any]) -> str:
    """The folds' level ("subject" unless stated); FoldError for an unknown one."""
    level = folds.get("level", "subject")
    if level not in LEVELS:
        raise FoldError(f"unknown folds level {level!r}; expected one of {sorted(LEVELS)}")
    return level


def member_keys(entries: list[list[str]], level: str) -> set[MemberKey]:
    """A fold part's entries as tuples of strings, each checked to have the level's length."""
    width = LEVELS[level]
    keys = {tuple(str(part) for part in entry) for entry in entries}
    wrong = sorted(key for key in keys if len(key) != width)
    if wrong:
        raise FoldError(f"{level}-level folds list entries of {width} parts, found {list(wrong[0])}")
    return keys


def _check_part(name: str, train: list[list[str]], test: list[list[str]], level: str) -> None:
    test_keys = member_keys(test, level)
    if not test_keys:
        raise FoldError(f"fold {name!r} has an empty test set")
    train_keys = member_keys(train, level)
    shared = sorted(test_keys & train_keys)
    if shared:
        listed = ", ".join("/".join(key) for key in shared)
        raise LeakageError(f"fold {name!r} has {level}s in both train and test: {listed}")


def check_no_leakage(folds: dict[str, Any]) -> None:
    """Raise LeakageError if any fold (or session of a fold) shares a unit between train and test.

    The unit is the (dataset, subject) pair for subject-level folds and the (dataset,
    subject, clip) sample for instance-level ones. Also refuses duplicate fold names and
    empty test sets, which would make the split ambiguous or silently drop a subject from
    evaluation.
    """
    level = level_of(folds)
    seen: set[str] = set()
    for fold in folds["folds"]:
        name = fold["name"]
        if name in seen:
            raise FoldError(f"fold name {name!r} appears twice")
        seen.add(name)
        _check_part(name, fold["train"], fold["test"], level)
        for session in fold.get("sessions", []):
            _check_part(f"{name}/{session['dataset']}", session["train"], session["test"], level)


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
