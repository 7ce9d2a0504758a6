"""IMER label maps: corpus emotion → the session's class → global emotion, and the run's label space.

A raw label in a coding file reaches a global emotion in three explicit steps
(reference/incremental.md §3):

1. raw label → corpus emotion: the dataset registry lower-cases it and applies the corpus's
   spelling aliases (SAMM `Other` → `other`, MMEW `sad` → `sadness`); the manifest stores the
   result in its `emotion` column;
2. corpus emotion → session class: each session keeps the classes of the IMER paper's head for
   that corpus (`IMER_CLASSES`) and drops the rest on purpose (`IMER_DROPPED`); kept and
   dropped together must cover the corpus vocabulary exactly, so an emotion in neither is an
   error naming the sample, never a silent skip (the public code's `except KeyError: pass`);
3. session class → global emotion: `mer.datasets.vocabulary` (SAMM `other` → `others`,
   CAS(ME)^3 `happy` → `happiness`, MMEW `sadness` → `sad`).

A fine-grained class is (session, global emotion), named "<dataset>/<global emotion>"; it
exists when the session's manifest holds at least one sample of it. The count table
(`count_rows`) lists every corpus emotion of every session with what happened to it, so a
class the label scheme or the IMER map drops is visible next to every result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from mer.datasets import registry, vocabulary
from mer.errors import ConfigError, InputDataError
from mer.incremental.learner import LabelSpace

# The classes of the IMER head per corpus (reference §3, `utils/data.py`), as corpus emotions.
IMER_CLASSES: dict[str, tuple[str, ...]] = {
    "casme2": ("disgust", "happiness", "others", "repression", "surprise"),
    "samm": ("anger", "contempt", "happiness", "other", "surprise"),
    "mmew": ("disgust", "happiness", "others", "sadness", "surprise", "fear"),
    "casme3_a": ("anger", "disgust", "fear", "happy", "others", "sad", "surprise"),
}
# What IMER leaves out of each session on purpose.
IMER_DROPPED: dict[str, tuple[str, ...]] = {
    "casme2": ("fear", "sadness"),
    "samm": ("disgust", "fear", "sadness"),
    "mmew": ("anger", "repression"),
    "casme3_a": (),
}
KEPT, DROPPED = "kept", "dropped"


@dataclass(frozen=True)
class SessionLabels:
    """One session's label map: which corpus emotions it keeps, as which global emotion, and which it drops."""

    dataset: str
    kept: Mapping[str, str]  # corpus emotion → global emotion
    dropped: tuple[str, ...]

    def global_of(self, emotion: str, where: Mapping[str, str]) -> str | None:
        """The global emotion of a kept corpus emotion, None for a dropped one; unknown → InputDataError."""
        if emotion in self.kept:
            return self.kept[emotion]
        if emotion in self.dropped:
            return None
        known = ", ".join([*self.kept, *self.dropped])
        raise InputDataError(f"emotion {emotion!r} is not in the IMER label map of {self.dataset} ({known})", **where)


def session_labels(dataset: str, kept: Sequence[str] | None = None) -> SessionLabels:
    """The label map of `dataset`: IMER's classes, or `kept` (corpus emotions) with the rest dropped.

    ConfigError when the corpus has no IMER map and no `kept` list, when `kept` names an emotion
    the corpus lacks, or when two kept emotions share a global emotion.
    """
    emotions = registry.get(dataset).emotions
    if kept is None:
        if dataset not in IMER_CLASSES:
            raise ConfigError(
                f"{dataset} has no IMER label map; give its classes in incremental.<benchmark>.classes.{dataset}"
            )
        kept, dropped = IMER_CLASSES[dataset], IMER_DROPPED[dataset]
    else:
        dropped = tuple(e for e in emotions if e not in kept)
    unknown = sorted(set(kept) - set(emotions))
    if unknown or sorted([*kept, *dropped]) != sorted(emotions):
        raise ConfigError(f"{dataset}: the IMER classes {list(kept)} must be corpus emotions ({', '.join(emotions)})")
    mapping = {emotion: vocabulary.global_emotion(dataset, emotion) for emotion in kept}
    if len(set(mapping.values())) != len(mapping):
        raise ConfigError(f"{dataset}: two kept emotions map to the same global emotion: {mapping}")
    return SessionLabels(dataset, mapping, tuple(dropped))


def label_rows(rows: pd.DataFrame, labels: SessionLabels) -> pd.DataFrame:
    """The session's kept rows with a `global_emotion` column; unknown emotions raise, naming the sample."""
    found = [
        labels.global_of(emotion, {"dataset": labels.dataset, "subject": subject, "clip": clip})
        for emotion, subject, clip in zip(rows["emotion"], rows["subject"], rows["clip"], strict=True)
    ]
    wrong = sorted(set(rows["dataset"]) - {labels.dataset})
    if wrong:
        raise InputDataError(f"rows of {wrong} in the session of {labels.dataset}", dataset=labels.dataset)
    out = rows.assign(global_emotion=found)
    return out[out["global_emotion"].notna()].reset_index(drop=True)


def count_rows(
    session: int, rows: pd.DataFrame, labels: SessionLabels, scheme: str, scheme_excluded: Mapping[str, int]
) -> list[dict[str, Any]]:
    """One row per corpus emotion of the session: status, global emotion, samples used and left out.

    `n_manifest` counts the manifest's rows (kept ones are used, dropped ones are not);
    `n_scheme_excluded` counts the samples the dataset's label scheme already left out of the
    manifest (manifest.json `excluded`). A kept class the scheme excludes gets a `note`.
    """
    present = rows["emotion"].value_counts()
    out = []
    for emotion in [*labels.kept, *labels.dropped]:
        kept = emotion in labels.kept
        excluded = int(scheme_excluded.get(emotion, 0))
        note = f"excluded by label scheme {scheme}" if kept and emotion in scheme_excluded else ""
        out.append(
            {
                "session": session + 1,
                "dataset": labels.dataset,
                "emotion": emotion,
                "global_emotion": labels.kept[emotion] if kept else "",
                "status": KEPT if kept else DROPPED,
                "n_manifest": int(present.get(emotion, 0)),
                "n_used": int(present.get(emotion, 0)) if kept else 0,
                "n_scheme_excluded": excluded,
                "note": note,
            }
        )
    return out


def build_label_space(sessions: Sequence[tuple[str, set[str]]]) -> LabelSpace:
    """Fine classes (session order, then global-emotion order) of [(dataset, global emotions present)]."""
    names = vocabulary.global_emotions()
    index = {name: i for i, name in enumerate(names)}
    fine_names, fine_to_global, fine_session = [], [], []
    for session, (dataset, present) in enumerate(sessions):
        for emotion in sorted(present, key=index.__getitem__):
            fine_names.append(f"{dataset}/{emotion}")
            fine_to_global.append(index[emotion])
            fine_session.append(session)
    return LabelSpace(tuple(fine_names), tuple(fine_to_global), tuple(fine_session), tuple(names))
