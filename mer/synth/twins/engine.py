"""Layout twins: a corpus's exact on-disk format and sample counts, with tiny placeholder frames.

A `TwinSpec` states, per size (`full`: the real corpus's published counts; `small`: a few
dozen samples for tests), the subjects, how many samples carry each emotion (spelled as
the corpus spells it), which subjects may carry only some emotions (so that scheme subject
counts come out right, e.g. CASME II sub10 and sub18 have no MEGC sample) and fixed quirk
rows (CASME II's apex "/"). `plan` deals the emotions to subjects deterministically;
the corpus module writes the annotation file and frames in its own format. Frames come from
a `Frames` source: by default one small JPEG (RGB or greyscale) repeated, because these
twins test ingestion, not vision; `mer.synth.twin_faces` renders faces instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from mer.synth.seeds import rng

SIZES = ("full", "small")
SPAN = 3  # offset - onset of an ordinary twin sample


@dataclass(frozen=True)
class TwinRow:
    """One sample of a twin; `apex` is a frame number, "/" (a quirk) or None (no apex)."""

    subject: int  # index into the size's subject list
    clip: str
    emotion: str
    onset: int
    apex: int | str | None
    offset: int


@dataclass(frozen=True)
class Quirk:
    """A fixed row reproducing a known anomaly of the real corpus."""

    subject: str
    clip: str
    emotion: str
    onset: int
    apex: int | str | None
    offset: int


@dataclass(frozen=True)
class Size:
    """Subjects and emotion counts of one size of a twin."""

    subjects: tuple[str, ...]
    counts: Mapping[str, int]
    only: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # subject -> emotions it may carry
    quirks: tuple[Quirk, ...] = ()


@dataclass(frozen=True)
class TwinSpec:
    """A corpus's twin: its sizes, the emotions every other subject gets first (`anchors`),
    how clips are named and where frame numbers start, and its writer."""

    dataset: str
    sizes: Mapping[str, Size]
    anchors: tuple[str, ...]
    clip_name: Callable[[str, int], str]  # (subject, k-th clip of the subject) -> clip name
    first_frame: Callable[[int], int]  # k-th clip of the subject -> onset
    write: Callable[[Size, list[TwinRow], Path, "Frames"], None]
    has_apex: bool = True


class Frames(Protocol):
    """The JPEG bytes of the given frame numbers of one twin sample (RGB or greyscale)."""

    def __call__(self, row: TwinRow, numbers: Sequence[int], greyscale: bool) -> list[bytes]: ...


def deal(size: Size, anchors: Sequence[str], seed: int, dataset: str) -> list[list[str]]:
    """Emotions per subject: quirks first, then one allowed emotion for every restricted
    subject, one anchor emotion for every other subject, and the rest dealt at random to
    subjects allowed to carry them. Exact totals; raises if the counts cannot be met."""
    left = dict(size.counts)
    for quirk in size.quirks:
        left[quirk.emotion] -= 1
    dealt: list[list[str]] = [[] for _ in size.subjects]
    generator = rng(seed, "twin", sum(map(ord, dataset)))

    def take(index: int, choices: Sequence[str]) -> None:
        available = [emotion for emotion in choices if left.get(emotion, 0) > 0]
        if not available:
            raise ValueError(f"{dataset}: no emotion left for subject {size.subjects[index]}")
        emotion = max(available, key=lambda e: (left[e], -list(choices).index(e)))
        left[emotion] -= 1
        dealt[index].append(emotion)

    quirk_subjects = {quirk.subject for quirk in size.quirks}
    for index, subject in enumerate(size.subjects):
        if subject in size.only:
            take(index, size.only[subject])
        elif subject not in quirk_subjects:
            take(index, anchors)
    free = [i for i, s in enumerate(size.subjects) if s not in size.only]
    rest = [emotion for emotion, count in sorted(left.items()) for _ in range(count)]
    for emotion in generator.permutation(len(rest)):
        dealt[free[int(generator.integers(len(free)))]].append(rest[emotion])
    return dealt


def plan(spec: TwinSpec, size_name: str, seed: int) -> list[TwinRow]:
    """Every sample of the twin, quirks included, sorted by subject then clip."""
    size = spec.sizes[size_name]
    rows = []
    for quirk in size.quirks:
        index = size.subjects.index(quirk.subject)
        rows.append(TwinRow(index, quirk.clip, quirk.emotion, quirk.onset, quirk.apex, quirk.offset))
    quirk_clips = {(row.subject, row.clip) for row in rows}
    for index, emotions in enumerate(deal(size, spec.anchors, seed, spec.dataset)):
        k = 0
        for emotion in emotions:
            while (index, spec.clip_name(size.subjects[index], k)) in quirk_clips:
                k += 1
            clip = spec.clip_name(size.subjects[index], k)
            onset = spec.first_frame(k)
            apex = onset + 1 if spec.has_apex else None
            rows.append(TwinRow(index, clip, emotion, onset, apex, onset + SPAN))
            k += 1
    return sorted(rows, key=lambda row: (row.subject, row.clip, row.onset))


@cache
def frame_bytes(greyscale: bool) -> bytes:
    """The placeholder frame: a 16x16 JPEG with a little structure, RGB or greyscale."""
    pattern = (np.add.outer(np.arange(16), np.arange(16)) * 7 % 256).astype(np.uint8)
    image = pattern if greyscale else np.dstack([pattern, pattern[::-1], pattern.T])
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("OpenCV could not encode the placeholder frame")
    return encoded.tobytes()


def placeholder_frames(row: TwinRow, numbers: Sequence[int], greyscale: bool) -> list[bytes]:
    """`Frames` of layout-only twins: the placeholder frame for every number."""
    return [frame_bytes(greyscale)] * len(numbers)


def write_frames(
    frames: Frames, folder: Path, row: TwinRow, numbers: Sequence[int], name: Callable[[int], str], greyscale: bool
) -> None:
    """Write the frames `name(n)` of sample `row` for the given frame numbers into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for number, data in zip(numbers, frames(row, numbers, greyscale), strict=True):
        (folder / name(number)).write_bytes(data)


def lead(row: TwinRow) -> range:
    """Frames on disk for a sample: one before onset to one after offset."""
    return range(max(row.onset - 1, 0), row.offset + 2)
