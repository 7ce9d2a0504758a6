"""Pre-flight validation of a corpus: the annotation against itself and against the frames.

Everything is checked and every problem collected before anything is reported, so one run
lists all that needs fixing. Frame files are listed, not decoded (that is `read_frame`'s
job when a stage reads them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

from mer.config import DatasetSpec
from mer.datasets import annotation, registry
from mer.datasets.annotation import AnnotationFile, Sample, Span
from mer.datasets.frames import list_frames
from mer.datasets.problems import Problem
from mer.datasets.registry import DatasetInfo
from mer.datasets.schemes import LabelScheme


@dataclass(frozen=True)
class Inspection:
    """What validation learnt about a corpus: its facts, files, valid samples and problems."""

    info: DatasetInfo
    scheme: LabelScheme
    annotation: AnnotationFile
    frame_folder: str | None
    samples: list[Sample]
    problems: list[Problem]


def gaps(numbers: Iterable[int]) -> str:
    """Sorted frame numbers as compact ranges: [3, 4, 5, 9] -> '3-5, 9'."""
    ranges: list[list[int]] = []
    for number in sorted(numbers):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def find_frame_folder(info: DatasetInfo, root: Path, subjects: Iterable[str]) -> str | None:
    """The first of the corpus's frame folders under `root` holding any annotated subject."""
    wanted = sorted(set(subjects))
    for folder in info.frame_folders:
        base = root / folder
        if base.is_dir() and any((base / subject).is_dir() for subject in wanted):
            return folder
    return None


def check_frames(info: DatasetInfo, base: Path, span: Span) -> list[Problem]:
    """The clip folder exists and holds one file for every frame from onset to offset."""

    def problem(message: str, frame: int | str | None = None) -> Problem:
        return Problem(info.name, span.subject, span.clip, frame, message, span.row)

    clip_dir = base / span.subject / span.clip
    if not clip_dir.is_dir():
        return [problem(f"clip folder missing: {clip_dir}", f"{span.onset}-{span.offset}")]
    frames = list_frames(clip_dir, info.frame_regex)
    problems = []
    for previous, current in pairwise(frames):
        if previous[0] == current[0]:
            problems.append(problem(f"two files for one frame: {previous[1].name}, {current[1].name}", current[0]))
    present = {number for number, _ in frames}
    missing = [n for n in range(span.onset, span.offset + 1) if n not in present]
    if missing:
        expected = span.offset - span.onset + 1
        where = gaps(missing)
        problems.append(
            problem(f"{len(missing)} of {expected} frames onset..offset missing in {clip_dir}: {where}", where)
        )
    return problems


def inspect_corpus(spec: DatasetSpec) -> Inspection:
    """Validate a configured corpus and keep what the manifest needs."""
    info = registry.get(spec.name)
    scheme = info.scheme(spec.scheme)
    path = annotation.locate(info, spec)
    identity = annotation.identify(info, path)
    parsed = annotation.parse(info, annotation.read(info, path))
    problems = list(parsed.problems)
    if not parsed.spans and not problems:
        problems.append(Problem(info.name, None, None, None, f"{path.name} has no sample rows"))
    folder = find_frame_folder(info, spec.root, [span.subject for span in parsed.spans])
    if folder is not None:
        for span in parsed.spans:
            problems.extend(check_frames(info, spec.root / folder, span))
    elif parsed.spans:
        candidates = ", ".join(info.frame_folders)
        message = f"no frame folder under {spec.root} ({candidates}) holds an annotated subject folder"
        problems.append(Problem(info.name, None, None, None, message))
    return Inspection(info, scheme, identity, folder, parsed.samples, problems)


def validate(spec: DatasetSpec) -> list[Problem]:
    """Every problem found in a configured corpus (empty if it is ready for the manifest)."""
    return inspect_corpus(spec).problems
