"""Protocols by name (params.yaml `experiments.<name>.protocol`), so new ones plug in without branching.

A protocol entry is either a name (`loso`, `cde`, `hde`, `slcv`, `ilcv`) or a mapping
`{name, n_folds, seed}` for the k-fold ones. Each protocol builds the folds.json structure
from the sample keys of an experiment's manifest (`make_folds`, the `mer folds` verb) and
names its folds from the subject lists known when the workflow is parsed
(`planned_fold_names`); both run the same code, so the planned fan-out and the written
folds cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mer.errors import ConfigError, InputDataError
from mer.protocols.composite import cde_from_pairs, hde_from_pairs
from mer.protocols.folds import check_no_leakage
from mer.protocols.kfold import kfold_folds
from mer.protocols.loso import loso_from_pairs

KEY_COLUMNS = ["dataset", "subject", "clip"]
DEFAULT_FOLDS = 5
DEFAULT_SEED = 0
Spec = dict[str, Any]


@dataclass(frozen=True)
class Protocol:
    """How one protocol builds folds from sample keys and names them from subject lists."""

    build: Callable[[pd.DataFrame, Spec], dict[str, Any]]
    names: Callable[[Mapping[str, list[str]], Spec], list[str]]
    options: frozenset[str] = frozenset()


def _pairs(keys: pd.DataFrame) -> list[tuple[str, str]]:
    return sorted(set(zip(keys["dataset"], keys["subject"], strict=True)))


def _subject_protocol(builder: Callable[[Iterable[tuple[str, str]]], dict[str, Any]]) -> Protocol:
    def names(subjects: Mapping[str, list[str]], spec: Spec) -> list[str]:
        pairs = [(d, s) for d, names_ in subjects.items() for s in names_]
        return [fold["name"] for fold in builder(pairs)["folds"]]

    return Protocol(build=lambda keys, spec: builder(_pairs(keys)), names=names)


def _sessions(keys: pd.DataFrame, width: int) -> list[tuple[str, list[tuple[str, ...]]]]:
    """[(dataset, units)] in the order datasets first appear (the experiment's dataset order)."""
    order = list(dict.fromkeys(keys["dataset"]))
    units = list(zip(*(keys[c] for c in KEY_COLUMNS[:width]), strict=True))
    return [(dataset, [u for u in units if u[0] == dataset]) for dataset in order]


def _kfold_protocol(name: str, level: str, width: int) -> Protocol:
    def build(keys: pd.DataFrame, spec: Spec) -> dict[str, Any]:
        return kfold_folds(_sessions(keys, width), name, level, spec["n_folds"], spec["seed"])

    def names(subjects: Mapping[str, list[str]], spec: Spec) -> list[str]:
        if level == "subject":  # fails at parse time when a session has too few subjects
            rows = [(d, s, "") for d, names_ in subjects.items() for s in names_]
            build(pd.DataFrame(rows, columns=KEY_COLUMNS), spec)
        return [f"{name}-k{k}" for k in range(spec["n_folds"])]

    return Protocol(build=build, names=names, options=frozenset({"n_folds", "seed"}))


PROTOCOLS: dict[str, Protocol] = {
    "loso": _subject_protocol(loso_from_pairs),
    "cde": _subject_protocol(cde_from_pairs),
    "hde": _subject_protocol(hde_from_pairs),
    "slcv": _kfold_protocol("slcv", "subject", 2),
    "ilcv": _kfold_protocol("ilcv", "instance", 3),
}


def protocol_spec(protocol: str | Mapping[str, Any]) -> Spec:
    """{"name", plus n_folds/seed for k-fold protocols} from a params entry (name or mapping)."""
    entry = {"name": protocol} if isinstance(protocol, str) else dict(protocol)
    name = entry.get("name")
    if name not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {name!r}; known protocols: {', '.join(sorted(PROTOCOLS))}")
    extra = sorted(set(entry) - {"name"} - PROTOCOLS[name].options)
    if extra:
        raise ConfigError(f"protocol {name!r} takes no options {extra}")
    if PROTOCOLS[name].options:
        entry = {"n_folds": DEFAULT_FOLDS, "seed": DEFAULT_SEED, **entry}
    return entry


def protocol_name(protocol: str | Mapping[str, Any]) -> str:
    """The protocol's registry name, for tables and file names."""
    return protocol_spec(protocol)["name"]


def make_folds(protocol: str | Mapping[str, Any], manifest: pd.DataFrame) -> dict[str, Any]:
    """The folds.json structure of `protocol` over the manifest's samples, leakage-checked."""
    missing = set(KEY_COLUMNS) - set(manifest.columns)
    if missing:
        raise InputDataError(f"manifest lacks columns {sorted(missing)}")
    spec = protocol_spec(protocol)
    keys = manifest[KEY_COLUMNS].astype(str)
    folds = PROTOCOLS[spec["name"]].build(keys, spec)
    check_no_leakage(folds)
    return folds


def planned_fold_names(protocol: str | Mapping[str, Any], subjects: Mapping[str, Iterable[str]]) -> list[str]:
    """Fold names `protocol` will produce for {dataset: subjects}, in folds.json order."""
    spec = protocol_spec(protocol)
    listed = {dataset: [str(s) for s in names] for dataset, names in subjects.items()}
    return PROTOCOLS[spec["name"]].names(listed, spec)
