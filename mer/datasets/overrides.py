"""Annotation repairs and exclusions read from `tables/overrides.yaml`, keyed by sample key.

An override names one sample by (subject folder, clip[, occurrence]), the values it expects
to find, and what to set or whether to exclude the sample; every override has a reason and a
public source. Overrides are applied to the raw annotation records before validation, so a
repaired value is validated like any other. What was applied, and what was not applicable
(the file holds other values, or the sample is absent), is returned for the run's report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from mer.datasets import cells

TABLE = "overrides.yaml"
FIELDS = ("onset", "apex", "offset", "emotion")


@dataclass(frozen=True)
class Override:
    """One repair or exclusion of one sample."""

    dataset: str
    subject: str
    clip: str
    occurrence: int | None
    expect: Mapping[str, Any]
    set: Mapping[str, Any]
    exclude: bool
    reason: str
    source: str

    def key(self) -> str:
        """The sample key as text: subject/clip[#occurrence]."""
        suffix = "" if self.occurrence is None else f"#{self.occurrence}"
        return f"{self.subject}/{self.clip}{suffix}"

    def describe(self) -> dict[str, Any]:
        """What the override does, for manifest.json and reports."""
        action = {"exclude": True} if self.exclude else {"set": dict(self.set)}
        return {"key": self.key(), **action, "reason": self.reason, "source": self.source}


@dataclass
class OverrideReport:
    """Overrides applied in a run and those that found nothing to correct."""

    version: int
    applied: list[dict[str, Any]] = field(default_factory=list)
    not_applicable: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for manifest.json."""
        return {"version": self.version, "applied": self.applied, "not_applicable": self.not_applicable}


def _parse(dataset: str, entry: dict[str, Any]) -> Override:
    key = entry["key"]
    changes = dict(entry.get("set", {}))
    unknown = set(changes) | set(entry.get("expect", {}))
    if unknown - set(FIELDS) or not entry.get("reason") or not entry.get("source"):
        raise ValueError(f"{TABLE}: {dataset} {key}: fields must be {FIELDS} and reason and source are required")
    if bool(changes) == bool(entry.get("exclude", False)):
        raise ValueError(f"{TABLE}: {dataset} {key}: give exactly one of `set` or `exclude: true`")
    occurrence = key.get("occurrence")
    return Override(
        dataset=dataset,
        subject=str(key["subject"]),
        clip=str(key["clip"]),
        occurrence=None if occurrence is None else int(occurrence),
        expect=dict(entry.get("expect", {})),
        set=changes,
        exclude=bool(entry.get("exclude", False)),
        reason=str(entry["reason"]),
        source=str(entry["source"]),
    )


@cache
def _table() -> tuple[int, dict[str, tuple[Override, ...]]]:
    text = resources.files("mer.datasets").joinpath("tables", TABLE).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    version = int(data.pop("version"))
    return version, {name: tuple(_parse(name, item) for item in items) for name, items in data.items()}


def version() -> int:
    """The override table's version."""
    return _table()[0]


def for_dataset(dataset: str) -> tuple[Override, ...]:
    """The overrides of one dataset (empty if it has none)."""
    return _table()[1].get(dataset, ())


def _same(found: object, wanted: object) -> bool:
    """A cell equals an expected value (numbers compared as numbers, text trimmed)."""
    number = cells.as_int(found)
    if isinstance(wanted, int) and not isinstance(wanted, bool):
        return number == wanted
    return cells.as_text(found) == str(wanted)


def apply(
    overrides: Sequence[Override], records: list[dict[str, Any]], report: OverrideReport
) -> list[dict[str, Any]]:
    """Records with the overrides applied; excluded samples are removed.

    Each record carries its normalised `subject_key`, `clip` and `occurrence`.
    """
    kept = list(records)
    for override in overrides:
        matches = [
            r
            for r in kept
            if (r["subject_key"], cells.as_text(r["clip"])) == (override.subject, override.clip)
            and override.occurrence in (None, r["occurrence"])
        ]
        if len(matches) != 1:
            found = "sample not in the annotation" if not matches else f"{len(matches)} samples match; give occurrence"
            report.not_applicable.append({**override.describe(), "why": found})
            continue
        record = matches[0]
        differing = {k: cells.as_text(record[k]) for k, v in override.expect.items() if not _same(record[k], v)}
        if differing:
            report.not_applicable.append({**override.describe(), "why": f"file holds {differing}"})
            continue
        if override.exclude:
            kept.remove(record)
        else:
            record.update(override.set)
        report.applied.append(override.describe())
    return kept
