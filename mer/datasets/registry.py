"""The dataset registry: one `DatasetInfo` per corpus, filled by the corpus modules.

Every fact a loader needs about a corpus (frame naming, folder layout, annotation file
versions and reader, emotion vocabulary, label schemes) lives in its `DatasetInfo`, so the
stages never branch on a dataset's name. A corpus module calls `register` once at import.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from mer.datasets import schemes as label_schemes
from mer.errors import ConfigError

# Columns every corpus's `read_annotation` returns, values still raw (validated later).
ANNOTATION_COLUMNS = ("row", "subject", "clip", "onset", "apex", "offset", "action_units", "emotion")


@dataclass(frozen=True)
class AnnotationVersion:
    """One release of a corpus's annotation file, recognised by name and, if pinned, content.

    `sha256` stays None until the digest of the owners' file has been checked; such a
    version is then recognised by its file name alone.
    """

    version: str
    filename: str
    sha256: str | None = None
    synthetic: bool = False
    note: str = ""


@dataclass(frozen=True)
class DatasetInfo:
    """What `mer` knows about one corpus.

    `frame_regex` must match a whole frame file name and capture its frame number.
    `frame_folders` are tried in order under the dataset root ("." is the root itself);
    under it a clip lives at `clip_template`. Corpora without annotated apexes set
    `has_apex=False` (an apex substitute is then a named choice); corpora with several
    samples per (subject, clip) set `occurrences=True` (samples then keyed by occurrence).
    `sheet`, `header_row`, `subject_format` and `frame_name` document the on-disk facts the
    reader and `frame_regex` implement; `exception_files` are official lists of damaged
    frames looked for in the root.
    `read_annotation` returns one row per annotated sample with `ANNOTATION_COLUMNS`,
    values as found in the file; `subject_folder` turns a raw subject id into the
    corpus's subject folder name (ValueError if it cannot). Emotion labels are compared
    after lower-casing and collapsing spaces, then mapped through `emotion_aliases`.
    """

    name: str
    display_name: str
    fps: int | None  # None: not published (see docs/datasets.md)
    frame_regex: re.Pattern[str]
    frame_folders: tuple[str, ...]
    annotation_globs: tuple[str, ...]
    annotation_versions: tuple[AnnotationVersion, ...]
    read_annotation: Callable[[Path], pd.DataFrame]
    subject_folder: Callable[[object], str]
    emotions: tuple[str, ...]
    emotion_aliases: Mapping[str, str]
    schemes: tuple[str, ...]
    clip_template: str = "{subject}/{clip}"
    greyscale: bool = False
    has_apex: bool = True
    occurrences: bool = False
    annotation_is_folder: bool = False
    sheet: str | int = 0
    header_row: int | None = 0
    subject_format: str = ""
    frame_name: str = ""
    exception_files: tuple[str, ...] = ()
    frame_format: str = ""

    def clip_dir(self, subject: str, clip: str, emotion: str | None) -> str:
        """A clip's folder relative to the frame folder, from `clip_template`.

        Templates may use {subject}, {clip} and {emotion} (the normalised emotion, for
        corpora that sort clips into emotion folders).
        """
        return self.clip_template.format(subject=subject, clip=clip, emotion=emotion or "")

    def normalise_emotion(self, raw: object) -> str | None:
        """The canonical emotion for a raw label, or None if it is not in the vocabulary."""
        if not isinstance(raw, str):
            return None
        key = " ".join(raw.split()).lower()
        key = self.emotion_aliases.get(key, key)
        return key if key in self.emotions else None

    def scheme(self, name: str) -> label_schemes.LabelScheme:
        """The label scheme `name`, which must be one this corpus offers."""
        if name not in self.schemes:
            raise ConfigError(
                f"datasets.{self.name}.scheme: {name!r} is not a label scheme for {self.display_name}; "
                f"available: {', '.join(self.schemes)}"
            )
        return label_schemes.get(name)


_REGISTRY: dict[str, DatasetInfo] = {}


def register(info: DatasetInfo) -> DatasetInfo:
    """Add a corpus; its schemes must exist and cover its emotion vocabulary exactly."""
    if info.name in _REGISTRY:
        raise ValueError(f"dataset {info.name!r} is registered twice")
    if info.frame_regex.groups != 1:
        raise ValueError(f"{info.name}: frame_regex must have exactly one group (the frame number)")
    for alias, target in info.emotion_aliases.items():
        if target not in info.emotions:
            raise ValueError(f"{info.name}: alias {alias!r} points to {target!r}, not a known emotion")
    for scheme_name in info.schemes:
        scheme = label_schemes.get(scheme_name)
        covered = set(scheme.members) | set(scheme.excluded)
        if scheme.dataset != info.name or covered != set(info.emotions):
            raise ValueError(
                f"scheme {scheme_name!r} does not fit {info.name}: it is for {scheme.dataset!r} and "
                f"covers {sorted(covered)}, the corpus has {sorted(info.emotions)}"
            )
    _REGISTRY[info.name] = info
    return info


def names() -> list[str]:
    """Registered dataset names, sorted."""
    return sorted(_REGISTRY)


def get(name: str) -> DatasetInfo:
    """The registered corpus `name`; ConfigError listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown dataset {name!r}; known datasets: {', '.join(names())}") from None
