"""The annotation file of a corpus: find it, identify its version, parse and check its rows.

Row checks here need only the sheet: frame numbers are numbers, offset is set,
onset <= apex <= offset, the emotion is known, (subject, clip) is unique. Checks against
the frames on disk are in `mer.datasets.validation`.
"""

from __future__ import annotations

import hashlib
import warnings
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from mer.config import DatasetSpec
from mer.datasets import cells
from mer.datasets.problems import Problem
from mer.datasets.registry import DatasetInfo
from mer.errors import InputDataError

KNOWN, SYNTHETIC, UNKNOWN = "known", "synthetic", "unknown"


class UnknownAnnotationWarning(UserWarning):
    """The annotation file is not a version the registry knows; results may not compare."""


@dataclass(frozen=True)
class AnnotationFile:
    """The annotation file used, with its SHA-256 and recognised version."""

    path: Path
    sha256: str
    version: str | None
    status: str  # KNOWN, SYNTHETIC or UNKNOWN


@dataclass(frozen=True)
class Span:
    """Where a sample's frames should be: enough of a row to check the clip folder."""

    row: int
    subject: str
    clip: str
    onset: int
    offset: int


@dataclass(frozen=True)
class Sample:
    """A fully valid annotation row."""

    row: int
    subject: str
    clip: str
    onset: int
    apex: int
    offset: int
    emotion: str
    action_units: str


@dataclass(frozen=True)
class ParsedAnnotation:
    """Valid samples, the frame spans that can be checked on disk, and every row problem."""

    samples: list[Sample]
    spans: list[Span]
    problems: list[Problem]


def locate(info: DatasetInfo, spec: DatasetSpec) -> Path:
    """The annotation file: `spec.annotation` (relative paths are under the root), or the one
    file in the root matching the corpus's globs. Several matches are refused, not guessed."""
    if not spec.root.is_dir():
        hint = " (run `mer synth` to generate it)" if spec.synthetic else ""
        raise InputDataError(f"dataset root is not a folder: {spec.root}{hint}", dataset=spec.name)
    if spec.annotation is not None:
        path = spec.annotation if spec.annotation.is_absolute() else spec.root / spec.annotation
        if not path.is_file():
            raise InputDataError(f"annotation file not found: {path}", dataset=spec.name, path=str(path))
        return path
    found = sorted({path for glob in info.annotation_globs for path in spec.root.glob(glob) if path.is_file()})
    if len(found) == 1:
        return found[0]
    globs = ", ".join(info.annotation_globs)
    if not found:
        raise InputDataError(
            f"no annotation file matching {globs} in {spec.root}; set datasets.{spec.name}.annotation",
            dataset=spec.name,
        )
    raise InputDataError(
        f"several annotation files match {globs} in {spec.root}: {', '.join(p.name for p in found)}; "
        f"choose one with datasets.{spec.name}.annotation",
        dataset=spec.name,
    )


def sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def identify(info: DatasetInfo, path: Path) -> AnnotationFile:
    """Recognise the file's version by pinned SHA-256, else by name (versions with no pinned
    digest); anything else is accepted as UNKNOWN with an UnknownAnnotationWarning."""
    digest = sha256(path)
    for version in info.annotation_versions:
        if version.sha256 == digest or (version.sha256 is None and version.filename == path.name):
            return AnnotationFile(path, digest, version.version, SYNTHETIC if version.synthetic else KNOWN)
    same_name = [v.version for v in info.annotation_versions if v.filename == path.name]
    reason = f"it is named like version {same_name[0]} but its SHA-256 differs" if same_name else "unrecognised file"
    known = ", ".join(v.filename for v in info.annotation_versions)
    warnings.warn(
        f"{info.display_name} annotation {path.name} (sha256 {digest}) is not a known version ({reason}); "
        f"known: {known}. Labels and frame numbers may differ from published results.",
        UnknownAnnotationWarning,
        stacklevel=2,
    )
    return AnnotationFile(path, digest, None, UNKNOWN)


def read(info: DatasetInfo, path: Path) -> pd.DataFrame:
    """The corpus's annotation table; an unreadable file becomes an InputDataError."""
    try:
        return info.read_annotation(path)
    except (ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise InputDataError(f"cannot read the annotation file: {exc}", dataset=info.name, path=str(path)) from None


@dataclass(frozen=True)
class _RowCheck:
    row: int
    subject: str | None
    clip: str | None
    problems: list[Problem]
    span: Span | None
    sample: Sample | None


def _check_row(info: DatasetInfo, record: dict[str, Any]) -> _RowCheck:
    """Every problem of one sheet row, and what of it is usable."""
    row = int(record["row"])
    findings: list[tuple[str, int | str | None]] = []  # (message, frame)
    subject: str | None = None
    try:
        subject = info.subject_folder(record["subject"])
    except ValueError as exc:
        findings.append((str(exc), None))
    clip = cells.as_text(record["clip"]) or None
    clip_is_folder = clip is not None and clip not in (".", "..") and not {"/", "\\"} & set(clip)
    if clip is None:
        findings.append(("the clip name is empty", None))
    elif not clip_is_folder:
        findings.append((f"the clip name {clip!r} is not a folder name", None))
    numbers = {field: cells.as_int(record[field]) for field in ("onset", "apex", "offset")}
    for field, number in numbers.items():
        if number is None:
            text = cells.as_text(record[field])
            findings.append((f"{field} is not a frame number: {cells.describe(record[field])}", text))
    onset, apex, offset = numbers["onset"], numbers["apex"], numbers["offset"]
    if offset == 0:
        findings.append(("offset is 0 (not annotated)", 0))
    elif onset is not None and offset is not None and onset > offset:
        findings.append((f"onset {onset} is after offset {offset}", onset))
    elif onset is not None and offset is not None and apex is not None and not onset <= apex <= offset:
        findings.append((f"apex {apex} is outside onset..offset {onset}..{offset}", apex))
    emotion = info.normalise_emotion(record["emotion"])
    if emotion is None:
        known = ", ".join(info.emotions)
        findings.append((f"unknown emotion label {cells.describe(record['emotion'])}; known: {known}", None))

    named_subject = subject or cells.as_text(record["subject"])
    problems = [Problem(info.name, named_subject, clip, frame, message, row) for message, frame in findings]
    span = sample = None
    if subject and clip and clip_is_folder and onset is not None and offset and onset <= offset:
        span = Span(row, subject, clip, onset, offset)
        if not problems and emotion is not None and apex is not None:
            action_units = cells.as_text(record["action_units"])
            sample = Sample(row, subject, clip, onset, apex, offset, emotion, action_units)
    return _RowCheck(row, subject, clip, problems, span, sample)


def parse(info: DatasetInfo, table: pd.DataFrame) -> ParsedAnnotation:
    """Check every row; collect all problems instead of stopping at the first."""
    checks = [_check_row(info, record) for record in table.to_dict("records")]
    problems = [problem for check in checks for problem in check.problems]
    rows_by_key: dict[tuple[str, str], list[int]] = defaultdict(list)
    for check in checks:
        if check.subject is not None and check.clip is not None:
            rows_by_key[(check.subject, check.clip)].append(check.row)
    for (subject, clip), rows in sorted(rows_by_key.items()):
        if len(rows) > 1:
            listed = ", ".join(map(str, rows))
            problems.append(Problem(info.name, subject, clip, None, f"duplicate sample: annotation rows {listed}"))
    return ParsedAnnotation(
        samples=[check.sample for check in checks if check.sample is not None],
        spans=[check.span for check in checks if check.span is not None],
        problems=problems,
    )
