"""The corpus plan: which clips exist, their names, labels, AUs and timing, before any pixel.

Everything here is cheap and deterministic, so the annotation file, the subject list and
the label statistics can be known (and tested) without rendering a frame. Class counts
follow the style's proportions by largest remainder, every class present gets at least two
clips, and labels are dealt round-robin over a shuffled subject order so that each class
spans at least two subjects and every subject sees several classes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from mer.synth.seeds import rng

MIN_PER_CLASS = 2


@dataclass(frozen=True)
class CorpusStyle:
    """What makes a corpus look like a given real one: labels, their AUs, names and frame numbers."""

    proportions: dict[str, float]  # emotion → share of clips, in the corpus's own label spelling
    required: tuple[str, ...]  # emotions that must appear in every corpus
    combos: dict[str, tuple[str, ...]]  # emotion → AU strings to draw from (repeats act as weights)
    subject_name: str  # folder name template for the 1-based subject number, e.g. 'sub{:02d}'
    clip_names: tuple[str, ...]  # every clip name the corpus may use
    first_frame: tuple[int, int]  # inclusive range of a clip folder's first frame number


@dataclass(frozen=True)
class ClipPlan:
    """One planned clip; frame numbers are absolute, as in the file names."""

    subject_index: int
    clip_index: int
    subject: str
    clip: str
    emotion: str
    action_units: str
    first: int
    onset: int
    apex: int
    offset: int
    last: int
    apex_annotated: int
    amplitude_224: float  # peak displacement on a 224-px face


def allocate(total: int, style: CorpusStyle) -> dict[str, int]:
    """Clips per emotion: largest-remainder shares, then every required or present class raised to 2.

    A corpus too small for two clips per required class spreads its clips over the required
    classes in order instead (e.g. 9 clips: 2, 2, 2, 2, 1).
    """
    names = list(style.proportions)
    if total < MIN_PER_CLASS * len(style.required):
        spread = dict.fromkeys(names, 0)
        for k in range(total):
            spread[style.required[k % len(style.required)]] += 1
        return spread
    weights = np.array([style.proportions[name] for name in names], dtype=np.float64)
    quotas = total * weights / weights.sum()
    counts = np.floor(quotas).astype(int)
    order = sorted(range(len(names)), key=lambda i: (-(quotas[i] - counts[i]), i))
    for i in order[: total - counts.sum()]:
        counts[i] += 1
    for i, name in enumerate(names):
        while counts[i] < MIN_PER_CLASS and (counts[i] > 0 or name in style.required):
            donor = max(range(len(names)), key=lambda j: (counts[j], -j))
            counts[donor] -= 1
            counts[i] += 1
    return {name: int(count) for name, count in zip(names, counts, strict=True)}


def subject_names(synth: dict[str, Any], style: CorpusStyle) -> list[str]:
    """Subject folder names, in subject order."""
    return [style.subject_name.format(i + 1) for i in range(synth["subjects"])]


def _name_pool(synth: dict[str, Any], style: CorpusStyle, generator: np.random.Generator) -> list[str]:
    """A shared pool smaller than the clip count, so clip names repeat across subjects."""
    total = synth["subjects"] * synth["clips_per_subject"]
    size = min(len(style.clip_names), max(synth["clips_per_subject"], min(math.ceil(0.6 * total), total - 1)))
    return [style.clip_names[i] for i in generator.permutation(len(style.clip_names))[:size]]


def _between(generator: np.random.Generator, bounds: tuple[int, int] | list[int]) -> int:
    """A uniform integer in the inclusive range `bounds`."""
    return int(generator.integers(bounds[0], bounds[1] + 1))


def _timing(synth: dict[str, Any], style: CorpusStyle, generator: np.random.Generator) -> dict[str, int]:
    """Frame numbers of one clip.

    The annotated apex is the true one plus a rounded Gaussian error, kept strictly inside
    (onset, offset) as a human coder's would be.
    """
    lead = synth["lead_frames"]
    first = _between(generator, style.first_frame)
    onset = first + lead
    apex = onset + _between(generator, synth["onset_to_apex_frames"])
    offset = apex + _between(generator, synth["apex_to_offset_frames"])
    error = int(round(generator.normal(0.0, synth["apex_error_frames"])))
    return {
        "first": first,
        "onset": onset,
        "apex": apex,
        "offset": offset,
        "last": offset + lead,
        "apex_annotated": min(max(apex + error, onset + 1), offset - 1),
    }


def plan_corpus(synth: dict[str, Any], style: CorpusStyle) -> list[ClipPlan]:
    """All clips of the corpus, sorted by subject then clip name."""
    n_subjects, per_subject = synth["subjects"], synth["clips_per_subject"]
    generator = rng(synth["seed"], "plan")
    counts = allocate(n_subjects * per_subject, style)
    labels = [emotion for emotion, count in counts.items() for _ in range(count)]
    dealer = generator.permutation(n_subjects)
    by_subject: list[list[str]] = [[] for _ in range(n_subjects)]
    for k, label in enumerate(labels):
        by_subject[dealer[k % n_subjects]].append(label)
    pool = _name_pool(synth, style, generator)
    subjects = subject_names(synth, style)
    plans = []
    for s, subject_labels in enumerate(by_subject):
        names = sorted(pool[i] for i in generator.choice(len(pool), size=per_subject, replace=False))
        emotions = [subject_labels[i] for i in generator.permutation(per_subject)]
        for c, (clip, emotion) in enumerate(zip(names, emotions, strict=True)):
            clip_rng = rng(synth["seed"], "clip", s, c)
            combos = style.combos[emotion]
            action_units = combos[int(clip_rng.integers(len(combos)))]
            amplitude = float(clip_rng.uniform(*synth["amplitude_px"]))
            plans.append(
                ClipPlan(
                    subject_index=s,
                    clip_index=c,
                    subject=subjects[s],
                    clip=clip,
                    emotion=emotion,
                    action_units=action_units,
                    amplitude_224=amplitude,
                    **_timing(synth, style, clip_rng),
                )
            )
    return plans
