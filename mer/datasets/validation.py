"""Pre-flight validation of a corpus: the annotation against itself and against the frames.

Everything is checked and every problem collected before anything is reported, so one run
lists all that needs fixing. Frame files are listed, not decoded (that is `read_frame`'s
job when a stage reads them).
"""

from __future__ import annotations

from collections.abc import Iterable
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path, PurePosixPath

import cv2

from mer.config import DatasetSpec
from mer.datasets import annotation, registry
from mer.datasets.annotation import AnnotationFile, Sample, Span
from mer.datasets.frames import list_frames
from mer.datasets.overrides import OverrideReport
from mer.datasets.problems import CATEGORIES, Problem
from mer.datasets.registry import DatasetInfo
from mer.datasets.schemes import LabelScheme
from mer.errors import ConfigError


@dataclass(frozen=True)
class Inspection:
    """What validation learnt about a corpus: its facts, files, valid samples and problems.

    `problems` fail the run; `ignored` are problems of categories the user opted out of,
    whose samples are left out of the manifest. `directories` maps a clip folder as the
    template names it to the folder found on disk (`spNo.1` for `spNO.1`).
    """

    info: DatasetInfo
    scheme: LabelScheme
    annotation: AnnotationFile
    frame_folder: str | None
    samples: list[Sample]
    problems: list[Problem]
    ignored: list[Problem] = field(default_factory=list)
    overrides: OverrideReport | None = None
    directories: dict[str, str] = field(default_factory=dict)


def gaps(numbers: Iterable[int]) -> str:
    """Sorted frame numbers as compact ranges: [3, 4, 5, 9] -> '3-5, 9'."""
    ranges: list[list[int]] = []
    for number in sorted(numbers):
        if ranges and number == ranges[-1][1] + 1:
            ranges[-1][1] = number
        else:
            ranges.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def resolve(base: Path, relative: str) -> Path | None:
    """`base/relative` on disk, matching each folder name exactly or, failing that, ignoring
    case (`spNo.1` for `spNO.1`); None if absent or ambiguous."""
    current = base
    for part in PurePosixPath(relative).parts:
        exact = current / part
        if exact.is_dir():
            current = exact
            continue
        if not current.is_dir():
            return None
        folded = [child for child in current.iterdir() if child.name.lower() == part.lower() and child.is_dir()]
        if len(folded) != 1:
            return None
        current = folded[0]
    return current


def find_frame_folder(info: DatasetInfo, root: Path, spans: Iterable[Span]) -> str | None:
    """The first of the corpus's frame folders under `root` holding any annotated clip folder."""
    directories = sorted({span.directory for span in spans})
    for folder in info.frame_folders:
        base = root / folder
        if base.is_dir() and any(resolve(base, directory) is not None for directory in directories):
            return folder
    return None


def damaged_frames(info: DatasetInfo, root: Path) -> dict[tuple[str, str], set[int]]:
    """Frames the corpus's official exception files list as damaged, by (subject, clip) in
    lower case: lines `<subject> <clip> <N>.jpg <comment>` (CAS(ME)^3 part A)."""
    listed: dict[tuple[str, str], set[int]] = defaultdict(set)
    for name in info.exception_files:
        for path in sorted(root.rglob(name)):
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                fields = line.split()
                match = info.frame_regex.fullmatch(fields[2]) if len(fields) >= 3 else None
                if match:
                    listed[(fields[0].lower(), fields[1].lower())].add(int(match.group(1)))
    return listed


def check_frames(info: DatasetInfo, base: Path, span: Span, damaged: set[int] | None = None) -> list[Problem]:
    """The clip folder exists and holds one readable file for every frame from onset to offset.

    Every frame file in the span must be non-empty; onset, apex and offset must decode.
    """

    def problem(category: str, message: str, frame: int | str | None = None) -> Problem:
        return Problem(info.name, span.subject, span.clip, frame, message, span.row, category)

    clip_dir = resolve(base, span.directory)
    if clip_dir is None:
        return [problem("layout", f"clip folder missing: {base / span.directory}", f"{span.onset}-{span.offset}")]
    frames = list_frames(clip_dir, info.frame_regex)
    problems = []
    for previous, current in pairwise(frames):
        if previous[0] == current[0]:
            message = f"two files for one frame: {previous[1].name}, {current[1].name}"
            problems.append(problem("missing_frames", message, current[0]))
    present = dict(frames)
    missing = [n for n in range(span.onset, span.offset + 1) if n not in present]
    if missing:
        expected = span.offset - span.onset + 1
        where = gaps(missing)
        message = f"{len(missing)} of {expected} frames onset..offset missing in {clip_dir}: {where}"
        problems.append(problem("missing_frames", message, where))
    keys = {span.onset, span.offset} | ({span.apex} if span.apex is not None else set())
    for number in range(span.onset, span.offset + 1):
        path = present.get(number)
        if path is None:
            continue
        if path.stat().st_size == 0 or (number in keys and cv2.imread(str(path), cv2.IMREAD_UNCHANGED) is None):
            problems.append(problem("unreadable", f"frame file cannot be decoded: {path.name}", number))
    for number in sorted(set(range(span.onset, span.offset + 1)) & (damaged or set())):
        problems.append(problem("damaged", "frame is on the official damaged-image list", number))
    return problems


def inspect_corpus(spec: DatasetSpec, ignore: Iterable[str] = ()) -> Inspection:
    """Validate a configured corpus and keep what the manifest needs.

    Problems whose category is in `ignore` do not fail the run; their samples are dropped.
    """
    ignore = set(ignore)
    unknown = ignore - set(CATEGORIES)
    if unknown:
        raise ConfigError(f"unknown problem categories {sorted(unknown)}; known: {', '.join(CATEGORIES)}")
    info = registry.get(spec.name)
    scheme = info.scheme(spec.scheme)
    path = annotation.locate(info, spec)
    identity = annotation.identify(info, path)
    parsed = annotation.parse(info, annotation.read(info, path))
    problems = list(parsed.problems)
    if not parsed.spans and not problems:
        problems.append(Problem(info.name, None, None, None, f"{path.name} has no sample rows", category="layout"))
    folder = find_frame_folder(info, spec.root, parsed.spans)
    directories: dict[str, str] = {}
    if folder is not None:
        base = spec.root / folder
        damaged = damaged_frames(info, spec.root)
        for span in parsed.spans:
            listed = damaged.get((span.subject.lower(), span.clip_name.lower()))
            problems.extend(check_frames(info, base, span, listed))
            found = resolve(base, span.directory)
            if found is not None:
                directories[span.directory] = found.relative_to(spec.root).as_posix()
    elif parsed.spans:
        candidates = ", ".join(info.frame_folders)
        message = f"no frame folder under {spec.root} ({candidates}) holds an annotated clip folder"
        problems.append(Problem(info.name, None, None, None, message, category="layout"))
    ignored = [p for p in problems if p.category in ignore]
    failing = [p for p in problems if p.category not in ignore]
    dropped = {(p.subject, p.clip) for p in ignored}
    samples = [s for s in parsed.samples if (s.subject, s.key_clip) not in dropped]
    return Inspection(info, scheme, identity, folder, samples, failing, ignored, parsed.overrides, directories)


def validate(spec: DatasetSpec, ignore: Iterable[str] = ()) -> list[Problem]:
    """Every problem found in a configured corpus (empty if it is ready for the manifest)."""
    return inspect_corpus(spec, ignore).problems
