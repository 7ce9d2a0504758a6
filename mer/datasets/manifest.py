"""The frozen sample manifest (`manifest.csv` + `manifest.json`) of one corpus and scheme.

One row per sample the label scheme keeps, sorted by (subject, clip); the sidecar records
which annotation file (name, SHA-256, version) and scheme produced it and what was excluded.
The manifest is only built from a corpus that passes validation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from mer import atomic
from mer.config import DatasetSpec
from mer.datasets import annotation, registry
from mer.datasets.annotation import Sample
from mer.datasets.apex import SUBSTITUTES
from mer.datasets.frames import list_frames
from mer.datasets.problems import DatasetValidationError
from mer.datasets.validation import inspect_corpus
from mer.datasets.registry import DatasetInfo
from mer.errors import ConfigError, InputDataError

MANIFEST_COLUMNS = (
    "dataset",
    "subject",
    "clip",
    "onset",
    "apex",
    "offset",
    "emotion",
    "label",
    "label_index",
    "action_units",
    "frame_dir",
)
INT_COLUMNS = ("onset", "apex", "offset", "label_index")


def build_manifest(
    spec: DatasetSpec, ignore: Iterable[str] = (), apex_substitute: str = "midpoint"
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate the corpus, then map its samples through the scheme.

    Raises DatasetValidationError listing every problem if validation finds any (problems of
    a category in `ignore` only drop their samples, listed in `meta["ignored_problems"]`).
    Samples whose emotion the scheme excludes are left out and counted in
    `meta["excluded"]`; samples the scheme excludes by key are listed in
    `meta["excluded_samples"]`. Corpora without apexes get `apex_substitute` (see
    `mer.datasets.apex`), recorded in `meta["apex_substitute"]`.
    """
    if apex_substitute not in SUBSTITUTES:
        raise ConfigError(f"unknown apex substitute {apex_substitute!r}; known: {', '.join(SUBSTITUTES)}")
    result = inspect_corpus(spec, ignore)
    source = f"{result.annotation.path.name} and the frames under {spec.root}"
    if result.problems:
        raise DatasetValidationError(spec.name, source, result.problems)
    assert result.frame_folder is not None  # validation reports a missing frame folder
    scheme = result.scheme
    rows = []
    excluded = Counter({emotion: 0 for emotion in scheme.excluded})
    excluded_samples = []
    for sample in result.samples:
        label = scheme.label_of(sample.emotion)
        if label is None:
            excluded[sample.emotion] += 1
            continue
        by_key = scheme.excludes_sample(sample.subject, sample.key_clip)
        if by_key is not None:
            excluded_samples.append({"subject": sample.subject, "clip": sample.key_clip, "reason": by_key.reason})
            continue
        frame_dir = result.directories[sample.directory]
        apex = sample.apex
        if apex is None:
            apex = _substitute_apex(result.info, spec.root / frame_dir, sample, apex_substitute)
        rows.append(
            {
                "dataset": spec.name,
                "subject": sample.subject,
                "clip": sample.key_clip,
                "onset": sample.onset,
                "apex": apex,
                "offset": sample.offset,
                "emotion": sample.emotion,
                "label": label,
                "label_index": scheme.index_of(label),
                "action_units": sample.action_units,
                "frame_dir": frame_dir,
            }
        )
    if not rows:
        raise InputDataError(f"no sample of {source} is in label scheme {scheme.name}", dataset=spec.name)
    frame = pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))
    frame = frame.sort_values(["subject", "clip"], kind="stable").reset_index(drop=True)
    frame = frame.astype({column: "int64" for column in INT_COLUMNS})
    counts = frame["label"].value_counts()
    meta = {
        "dataset": spec.name,
        "annotation_file": result.annotation.path.name,
        "annotation_sha256": result.annotation.sha256,
        "annotation_version": result.annotation.version,
        "annotation_status": result.annotation.status,
        "frame_folder": result.frame_folder,
        "scheme": scheme.name,
        "scheme_version": scheme.version,
        "classes": list(scheme.classes),
        "counts": {label: int(counts.get(label, 0)) for label in scheme.classes},
        "excluded": dict(sorted(excluded.items())),
        "excluded_samples": excluded_samples,
        "overrides": result.overrides.as_dict() if result.overrides else None,
        "ignored_problems": [str(problem) for problem in result.ignored],
        "apex_substitute": None if result.info.has_apex else apex_substitute,
        "rows": len(frame),
        "subjects": int(frame["subject"].nunique()),
    }
    return frame, meta


def _substitute_apex(info: DatasetInfo, clip_dir: Path, sample: Sample, name: str) -> int:
    """The named apex substitute for one sample of a corpus without apexes."""
    files = dict(list_frames(clip_dir, info.frame_regex))
    return SUBSTITUTES[name](sample.onset, sample.offset, files.__getitem__)


def list_subjects(spec: DatasetSpec) -> list[str]:
    """Sorted subject folders with at least one sample in the scheme, from the annotation alone.

    Cheap enough for workflow parse time: no frames are listed and the file is not hashed.
    Rows with problems are skipped here; the manifest stage reports them.
    """
    info = registry.get(spec.name)
    scheme = info.scheme(spec.scheme)
    path = annotation.locate(info, spec)
    parsed = annotation.parse(info, annotation.read(info, path))
    kept = (s for s in parsed.samples if scheme.label_of(s.emotion) is not None)
    return sorted({s.subject for s in kept if scheme.excludes_sample(s.subject, s.key_clip) is None})


def sidecar_path(out_csv: Path) -> Path:
    """The JSON sidecar beside a manifest CSV (`manifest.csv` -> `manifest.json`)."""
    return Path(out_csv).with_suffix(".json")


def write_manifest(frame: pd.DataFrame, meta: dict[str, Any], out_csv: Path) -> None:
    """Write the CSV and its JSON sidecar atomically; same inputs give identical bytes."""
    if tuple(frame.columns) != MANIFEST_COLUMNS:
        raise ValueError(f"manifest columns must be {list(MANIFEST_COLUMNS)}, got {list(frame.columns)}")
    atomic.write_json(sidecar_path(out_csv), meta)
    atomic.write_csv(out_csv, frame)


def read_manifest(path: Path) -> pd.DataFrame:
    """A manifest CSV with onset/apex/offset/label_index as int64 and the rest as str."""
    dtypes = {column: ("int64" if column in INT_COLUMNS else str) for column in MANIFEST_COLUMNS}
    try:
        frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False)
    except FileNotFoundError:
        raise InputDataError("manifest not found (run `mer manifest` first)", path=str(path)) from None
    except ValueError as exc:
        raise InputDataError(f"manifest is malformed: {exc}", path=str(path)) from None
    if tuple(frame.columns) != MANIFEST_COLUMNS:
        raise InputDataError(
            f"manifest columns are {list(frame.columns)}, expected {list(MANIFEST_COLUMNS)}", path=str(path)
        )
    return frame
