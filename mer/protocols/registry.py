"""Protocols by name (params.yaml `experiments.<name>.protocol`), so new ones plug in without branching.

A protocol builds the folds.json structure from the (dataset, subject) pairs of an
experiment. The same builder serves the manifest (`make_folds`, the `mer folds` verb) and
the subject lists known when the workflow is parsed (`planned_fold_names`), so the planned
fan-out and the written folds cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd

from mer.errors import ConfigError
from mer.protocols.folds import check_no_leakage
from mer.protocols.loso import loso_from_pairs, subject_pairs

ProtocolFn = Callable[[Iterable[tuple[str, str]]], dict[str, Any]]

PROTOCOLS: dict[str, ProtocolFn] = {"loso": loso_from_pairs}


def _builder(protocol: str) -> ProtocolFn:
    try:
        return PROTOCOLS[protocol]
    except KeyError:
        raise ConfigError(f"unknown protocol {protocol!r}; known protocols: {', '.join(sorted(PROTOCOLS))}") from None


def make_folds(protocol: str, manifest: pd.DataFrame) -> dict[str, Any]:
    """The folds.json structure of `protocol` over the manifest's subjects, leakage-checked."""
    folds = _builder(protocol)(subject_pairs(manifest))
    check_no_leakage(folds)
    return folds


def planned_fold_names(protocol: str, subjects: Mapping[str, Iterable[str]]) -> list[str]:
    """Fold names `protocol` will produce for {dataset: subjects}, in folds.json order."""
    pairs = [(dataset, subject) for dataset, names in subjects.items() for subject in names]
    return [fold["name"] for fold in _builder(protocol)(pairs)["folds"]]
