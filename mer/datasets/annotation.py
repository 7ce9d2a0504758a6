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
from mer.datasets import overrides as overrides_mod
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

    row: int | None
    subject: str
    clip: str
    onset: int
    offset: int
    directory: str  # the clip folder relative to the frame folder
    apex: int | None = None
    clip_name: str = ""  # the clip as the annotation names it (without occurrence)


@dataclass(frozen=True)
class Sample:
    """A fully valid annotation row; `apex` is None for corpora that annotate none.

    `key_clip` is the clip part of the sample key: the clip name, plus `#occurrence` in
    corpora with several samples per clip (CAS(ME)^3), ordered by onset.
    """

    row: int | None
    subject: str
    clip: str
    onset: int
    apex: int | None
    offset: int
    emotion: str
    action_units: str
    occurrence: int = 1
    key_clip: str = ""
    directory: str = ""


@dataclass(frozen=True)
class ParsedAnnotation:
    """Valid samples, the frame spans that can be checked on disk, and every row problem."""

    samples: list[Sample]
    spans: list[Span]
    problems: list[Problem]
    overrides: overrides_mod.OverrideReport


def locate(info: DatasetInfo, spec: DatasetSpec) -> Path:
    """The annotation file: `spec.annotation` (relative paths are under the root), or the one
    file in the root matching the corpus's globs. Several matches are refused, not guessed."""
    if not spec.root.is_dir():
        hint = " (run `mer synth` to generate it)" if spec.synthetic else ""
        raise InputDataError(f"dataset root is not a folder: {spec.root}{hint}", dataset=spec.name)
    if spec.annotation is not None:
        path = spec.annotation if spec.annotation.is_absolute() else spec.root / spec.annotation
        if not (path.is_dir() if info.annotation_is_folder else path.is_file()):
            raise InputDataError(f"annotation file not found: {path}", dataset=spec.name, path=str(path))
        return path
    wanted = Path.is_dir if info.annotation_is_folder else Path.is_file
    found = sorted({path for glob in info.annotation_globs for path in spec.root.glob(glob) if wanted(path)})
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
    """Hex SHA-256 of a file's bytes; of a folder (labels from folders), of its sorted listing."""
    digest = hashlib.sha256()
    if path.is_dir():
        for item in sorted(p.relative_to(path).as_posix() for p in path.rglob("*")):
            digest.update(item.encode() + b"\n")
        return digest.hexdigest()
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


def _record_keys(info: DatasetInfo, records: list[dict[str, Any]]) -> None:
    """Give each raw record its subject folder (`subject_key`, None if unreadable) and its
    occurrence: rank by (onset, row) among records of the same (subject, clip)."""
    groups: dict[tuple[str | None, str], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        try:
            record["subject_key"] = info.subject_folder(record["subject"])
        except ValueError as exc:
            record["subject_key"], record["subject_error"] = None, str(exc)
        groups[(record["subject_key"], cells.as_text(record["clip"]))].append(record)
    for group in groups.values():
        ordered = sorted(group, key=lambda r: (cells.as_int(r["onset"]) or 0, cells.as_int(r["row"]) or 0))
        for rank, record in enumerate(ordered, start=1):
            record["occurrence"] = rank


@dataclass(frozen=True)
class _RowCheck:
    row: int | None
    subject: str | None
    clip: str | None
    duplicate_key: tuple[object, ...] | None
    problems: list[Problem]
    span: Span | None
    sample: Sample | None


def _check_numbers(info: DatasetInfo, record: dict[str, Any]) -> tuple[dict[str, int | None], list[tuple]]:
    """Onset, apex, offset as numbers and the (category, message, frame) of each problem."""
    findings: list[tuple[str, str, int | str | None]] = []
    fields = ("onset", "apex", "offset") if info.has_apex else ("onset", "offset")
    numbers: dict[str, int | None] = {"apex": None}
    for name in fields:
        numbers[name] = cells.as_int(record[name])
        if numbers[name] is None:
            text = cells.as_text(record[name])
            findings.append(("frame_number", f"{name} is not a frame number: {cells.describe(record[name])}", text))
    if not info.has_apex and not cells.is_blank(record["apex"]):
        findings.append(("frame_number", f"{info.display_name} annotates no apex, found {cells.describe(record['apex'])}", None))
    onset, apex, offset = numbers["onset"], numbers["apex"], numbers["offset"]
    if offset == 0:
        findings.append(("offset", "offset is 0 (not annotated)", 0))
    elif onset is not None and offset is not None and onset > offset:
        findings.append(("order", f"onset {onset} is after offset {offset}", onset))
    elif apex == 0:
        findings.append(("order", "apex is 0 (not annotated)", 0))
    elif onset is not None and offset is not None and apex is not None and not onset <= apex <= offset:
        findings.append(("order", f"apex {apex} is outside onset..offset {onset}..{offset}", apex))
    return numbers, findings


def _check_row(info: DatasetInfo, record: dict[str, Any]) -> _RowCheck:
    """Every problem of one annotation row, and what of it is usable."""
    row = cells.as_int(record["row"])
    findings: list[tuple[str, str, int | str | None]] = []  # (category, message, frame)
    subject: str | None = record["subject_key"]
    if subject is None:
        findings.append(("subject", record["subject_error"], None))
    clip = cells.as_text(record["clip"]) or None
    clip_is_folder = clip is not None and clip not in (".", "..") and not {"/", "\\"} & set(clip)
    if clip is None:
        findings.append(("clip", "the clip name is empty", None))
    elif not clip_is_folder:
        findings.append(("clip", f"the clip name {clip!r} is not a folder name", None))
    numbers, number_findings = _check_numbers(info, record)
    findings.extend(number_findings)
    emotion = info.normalise_emotion(record["emotion"])
    if emotion is None:
        known = ", ".join(info.emotions)
        findings.append(("label", f"unknown emotion label {cells.describe(record['emotion'])}; known: {known}", None))

    occurrence = int(record["occurrence"])
    key_clip = f"{clip}#{occurrence}" if info.occurrences and clip else clip
    named_subject = subject or cells.as_text(record["subject"])
    problems = [Problem(info.name, named_subject, key_clip, frame, msg, row, cat) for cat, msg, frame in findings]
    onset, apex, offset = numbers["onset"], numbers["apex"], numbers["offset"]
    span = sample = None
    located = "{emotion}" not in info.clip_template or emotion is not None
    if subject and clip and clip_is_folder and located and onset is not None and offset and onset <= offset:
        directory = info.clip_dir(subject, clip, emotion)
        in_span = apex if apex is not None and onset <= apex <= offset else None
        span = Span(row, subject, key_clip or clip, onset, offset, directory, in_span, clip)
        if not problems and emotion is not None:
            action_units = cells.as_text(record["action_units"])
            sample = Sample(
                row, subject, clip, onset, apex, offset, emotion, action_units, occurrence, key_clip or clip, directory
            )
    same_sample = (subject, clip) if not info.occurrences else (subject, clip, onset, apex, offset)
    duplicate_key = same_sample if subject is not None and clip is not None else None
    return _RowCheck(row, subject, key_clip, duplicate_key, problems, span, sample)


def parse(info: DatasetInfo, table: pd.DataFrame) -> ParsedAnnotation:
    """Apply the corpus's overrides, then check every row; collect all problems at once."""
    records = table.to_dict("records")
    _record_keys(info, records)
    report = overrides_mod.OverrideReport(overrides_mod.version())
    records = overrides_mod.apply(overrides_mod.for_dataset(info.name), records, report)
    checks = [_check_row(info, record) for record in records]
    problems = [problem for check in checks for problem in check.problems]
    by_key: dict[tuple[object, ...], list[_RowCheck]] = defaultdict(list)
    for check in checks:
        if check.duplicate_key is not None:
            by_key[check.duplicate_key].append(check)
    duplicated = {key for key, group in by_key.items() if len(group) > 1}
    for key in sorted(duplicated, key=str):
        first = by_key[key][0]
        listed = ", ".join(str(check.row) for check in by_key[key])
        message = f"duplicate sample: annotation rows {listed}"
        problems.append(Problem(info.name, first.subject, first.clip, None, message, category="duplicate"))
    return ParsedAnnotation(
        samples=[c.sample for c in checks if c.sample is not None and c.duplicate_key not in duplicated],
        spans=[check.span for check in checks if check.span is not None],
        problems=problems,
        overrides=report,
    )
