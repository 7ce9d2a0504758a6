"""The frozen sample manifest (`manifest.csv` + `manifest.json`) of one corpus and scheme.

One row per sample the label scheme keeps, sorted by (subject, clip); the sidecar records
which annotation file (name, SHA-256, version) and scheme produced it and what was excluded.
The manifest is only built from a corpus that passes validation.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from mer import atomic
from mer.config import DatasetSpec
from mer.datasets import annotation, registry
from mer.datasets.problems import DatasetValidationError
from mer.datasets.validation import inspect_corpus
from mer.errors import InputDataError

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


def build_manifest(spec: DatasetSpec) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Validate the corpus, then map its samples through the scheme.

    Raises DatasetValidationError listing every problem if validation finds any. Samples
    whose emotion the scheme excludes are left out and counted in `meta["excluded"]`.
    """
    result = inspect_corpus(spec)
    source = f"{result.annotation.path.name} and the frames under {spec.root}"
    if result.problems:
        raise DatasetValidationError(spec.name, source, result.problems)
    assert result.frame_folder is not None  # validation reports a missing frame folder
    scheme = result.scheme
    rows = []
    excluded = Counter({emotion: 0 for emotion in scheme.excluded})
    for sample in result.samples:
        label = scheme.label_of(sample.emotion)
        if label is None:
            excluded[sample.emotion] += 1
            continue
        rows.append(
            {
                "dataset": spec.name,
                "subject": sample.subject,
                "clip": sample.clip,
                "onset": sample.onset,
                "apex": sample.apex,
                "offset": sample.offset,
                "emotion": sample.emotion,
                "label": label,
                "label_index": scheme.index_of(label),
                "action_units": sample.action_units,
                "frame_dir": str(PurePosixPath(result.frame_folder, sample.subject, sample.clip)),
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
        "rows": len(frame),
        "subjects": int(frame["subject"].nunique()),
    }
    return frame, meta


def list_subjects(spec: DatasetSpec) -> list[str]:
    """Sorted subject folders with at least one sample in the scheme, from the annotation alone.

    Cheap enough for workflow parse time: no frames are listed and the file is not hashed.
    Rows with problems are skipped here; the manifest stage reports them.
    """
    info = registry.get(spec.name)
    scheme = info.scheme(spec.scheme)
    path = annotation.locate(info, spec)
    parsed = annotation.parse(info, annotation.read(info, path))
    return sorted({s.subject for s in parsed.samples if scheme.label_of(s.emotion) is not None})


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
