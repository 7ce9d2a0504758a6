"""Label schemes, read from the data table `tables/schemes.yaml`.

A scheme maps a corpus's (normalised) emotions onto ordered classes; the class order is
the label index. Emotions a scheme leaves out are listed explicitly so that excluded
samples are counted, never dropped silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import yaml

from mer.errors import ConfigError

TABLE = "schemes.yaml"


@dataclass(frozen=True)
class SampleExclusion:
    """One sample a scheme leaves out by key (not by label), with why and who says so."""

    subject: str
    clip: str
    reason: str
    source: str


@dataclass(frozen=True)
class LabelScheme:
    """A named, versioned mapping from source emotions to ordered classes."""

    name: str
    dataset: str
    version: int
    description: str
    classes: tuple[str, ...]
    members: Mapping[str, str]  # source emotion -> class
    excluded: tuple[str, ...]
    excluded_samples: tuple[SampleExclusion, ...] = ()
    source: str = ""

    def excludes_sample(self, subject: str, clip: str) -> SampleExclusion | None:
        """The scheme's exclusion of sample (subject, clip), if it has one."""
        for exclusion in self.excluded_samples:
            if (exclusion.subject, exclusion.clip) == (subject, clip):
                return exclusion
        return None

    def label_of(self, emotion: str) -> str | None:
        """The class of a normalised emotion, or None if the scheme excludes it."""
        return self.members.get(emotion)

    def index_of(self, label: str) -> int:
        """The label index of a class."""
        return self.classes.index(label)


def _parse(name: str, entry: dict[str, Any]) -> LabelScheme:
    classes = tuple(item["name"] for item in entry["classes"])
    members: dict[str, str] = {}
    for item in entry["classes"]:
        for emotion in item["emotions"]:
            if emotion in members:
                raise ValueError(f"{TABLE}: {name}: emotion {emotion!r} is in two classes")
            members[emotion] = item["name"]
    excluded = tuple(entry.get("excluded", []))
    if len(set(classes)) != len(classes) or set(excluded) & set(members):
        raise ValueError(f"{TABLE}: {name}: class names repeat or an excluded emotion is also in a class")
    return LabelScheme(
        name=name,
        dataset=entry["dataset"],
        version=int(entry["version"]),
        description=entry["description"],
        classes=classes,
        members=MappingProxyType(members),
        excluded=excluded,
        excluded_samples=tuple(
            SampleExclusion(str(item["subject"]), str(item["clip"]), item["reason"], item["source"])
            for item in entry.get("excluded_samples", [])
        ),
        source=entry.get("source", ""),
    )


@cache
def all_schemes() -> dict[str, LabelScheme]:
    """Every scheme in the table, by name."""
    text = resources.files("mer.datasets").joinpath("tables", TABLE).read_text(encoding="utf-8")
    return {name: _parse(name, entry) for name, entry in yaml.safe_load(text).items()}


def get(name: str) -> LabelScheme:
    """The scheme `name`; ConfigError listing the known schemes otherwise."""
    table = all_schemes()
    if name not in table:
        raise ConfigError(f"unknown label scheme {name!r}; known schemes: {', '.join(sorted(table))}")
    return table[name]
