"""Composite manifests: several corpora under one class list (MEGC2019 CDE).

A composite names one label scheme per member dataset (`tables/composites.yaml`); all parts
share the classes and their order, so `label_index` means the same in every row. Each part
is validated and frozen like a single-corpus manifest, then the rows are concatenated and
sorted by (dataset, subject, clip). LOSO folds key on (dataset, subject).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import pandas as pd
import yaml

from mer.config import DatasetSpec
from mer.datasets import schemes
from mer.datasets.manifest import build_manifest
from mer.errors import ConfigError

TABLE = "composites.yaml"


@dataclass(frozen=True)
class Composite:
    """A named, versioned union of per-dataset label schemes with one class list."""

    name: str
    version: int
    description: str
    source: str
    parts: Mapping[str, str]  # dataset -> scheme

    @property
    def classes(self) -> tuple[str, ...]:
        """The shared class list, in label-index order."""
        return schemes.get(next(iter(self.parts.values()))).classes


def _parse(name: str, entry: dict[str, Any]) -> Composite:
    composite = Composite(
        name, int(entry["version"]), entry["description"], entry["source"], MappingProxyType(dict(entry["parts"]))
    )
    for dataset, scheme_name in composite.parts.items():
        scheme = schemes.get(scheme_name)
        if scheme.dataset != dataset or scheme.classes != composite.classes:
            raise ValueError(f"{TABLE}: {name}: part {scheme_name} is not for {dataset} or has other classes")
    return composite


@cache
def all_composites() -> dict[str, Composite]:
    """Every composite in the table, by name."""
    text = resources.files("mer.datasets").joinpath("tables", TABLE).read_text(encoding="utf-8")
    return {name: _parse(name, entry) for name, entry in yaml.safe_load(text).items()}


def get(name: str) -> Composite:
    """The composite `name`; ConfigError listing the known ones otherwise."""
    table = all_composites()
    if name not in table:
        raise ConfigError(f"unknown composite {name!r}; known composites: {', '.join(sorted(table))}")
    return table[name]


def build_composite(
    name: str, specs: Mapping[str, DatasetSpec], ignore: Iterable[str] = ()
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The composite manifest from one configured corpus per part (their schemes are replaced
    by the composite's). Raises the first part's DatasetValidationError if any part fails."""
    composite = get(name)
    missing = sorted(set(composite.parts) - set(specs))
    if missing:
        raise ConfigError(f"composite {name} needs datasets {missing} configured")
    frames, parts = [], {}
    for dataset, scheme_name in composite.parts.items():
        frame, meta = build_manifest(dataclasses.replace(specs[dataset], scheme=scheme_name), ignore)
        frames.append(frame)
        parts[dataset] = meta
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.sort_values(["dataset", "subject", "clip"], kind="stable").reset_index(drop=True)
    counts = frame["label"].value_counts()
    meta = {
        "composite": name,
        "composite_version": composite.version,
        "classes": list(composite.classes),
        "counts": {label: int(counts.get(label, 0)) for label in composite.classes},
        "rows": len(frame),
        "subjects": int(frame[["dataset", "subject"]].drop_duplicates().shape[0]),
        "parts": parts,
    }
    return frame, meta
