"""The session stream of an incremental benchmark: labelled rows, bound folds, per-session splits and inputs.

`build_stream` concatenates the sessions' manifests in session order, keeps the classes of
each session's label map (`mer.incremental.labels`) and numbers the fine-grained classes.
`make_stream_folds` hands the concatenated rows to `mer.protocols.make_folds`, whose k-fold
protocols deal each session separately and bind fold k across sessions (SLCV: subjects,
ILCV: samples). `session_split` cuts one session into the fold's training and test rows, so
the training data of session t only ever holds rows of session t's training part.

Inputs are read through the input-kind registry (`mer.training.inputs`) and scaled per
kind: face crops (`apex_frame`, `onset_frame`) as the ImageNet-pretrained backbones expect
them (0–1, then ImageNet mean/std); motion inputs (flows, differences) as everywhere else in
`mer` (each channel divided by its maximum |value|, `mer.training.data.to_model_input`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mer.errors import InputDataError
from mer.incremental.labels import SessionLabels, build_label_space, count_rows, label_rows
from mer.incremental.learner import LabelSpace, SessionData
from mer.protocols import level_of, make_folds
from mer.protocols.folds import LeakageError
from mer.training.data import row_keys, split_fold, to_model_input
from mer.training.inputs import InputSources, input_kind

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STREAM_COLUMNS = ["dataset", "subject", "clip", "onset", "apex", "offset", "emotion", "global_emotion"]


@dataclass(frozen=True)
class Stream:
    """The benchmark's labelled rows (session order) with their label space and count table."""

    datasets: tuple[str, ...]
    rows: pd.DataFrame  # STREAM_COLUMNS + session, global_index, fine_index
    labels: LabelSpace
    counts: list[dict[str, Any]]


def build_stream(
    sessions: Sequence[SessionLabels], manifests: Mapping[str, pd.DataFrame], metas: Mapping[str, dict[str, Any]]
) -> Stream:
    """Label each session's manifest rows, number the fine classes, and count what was kept and dropped.

    `metas` are the manifests' sidecars (manifest.json): their `scheme` and `excluded` counts
    go into the count table.
    """
    labelled, counts, present = [], [], []
    for index, labels in enumerate(sessions):
        manifest = manifests[labels.dataset]
        meta = metas[labels.dataset]
        counts += count_rows(index, manifest, labels, meta.get("scheme", "?"), meta.get("excluded", {}))
        rows = label_rows(manifest, labels)
        if rows.empty:
            raise InputDataError("no sample of the session is in its IMER classes", dataset=labels.dataset)
        labelled.append(rows[STREAM_COLUMNS].assign(session=index))
        present.append((labels.dataset, set(rows["global_emotion"])))
    space = build_label_space(present)
    fine = {name: i for i, name in enumerate(space.fine_names)}
    global_index = {name: i for i, name in enumerate(space.global_names)}
    rows = pd.concat(labelled, ignore_index=True).astype({c: str for c in ("dataset", "subject", "clip")})
    rows["global_index"] = [global_index[e] for e in rows["global_emotion"]]
    rows["fine_index"] = [fine[f"{d}/{e}"] for d, e in zip(rows["dataset"], rows["global_emotion"], strict=True)]
    return Stream(tuple(s.dataset for s in sessions), rows, space, counts)


def make_stream_folds(stream: Stream, protocol: Mapping[str, Any]) -> dict[str, Any]:
    """folds.json structure of a k-fold protocol over the stream (sessions dealt separately, bound by k)."""
    folds = make_folds(dict(protocol), stream.rows)
    order = [[part["dataset"] for part in fold["sessions"]] for fold in folds["folds"]]
    if any(tuple(datasets) != stream.datasets for datasets in order):
        raise InputDataError(f"folds list sessions {order[0]}, the benchmark has {list(stream.datasets)}")
    return folds


def session_split(stream: Stream, folds: dict[str, Any], fold: int, session: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Session `session`'s training and test rows under fold `fold` (sorted by key, disjoint units)."""
    entry = folds["folds"][fold]
    part = entry["sessions"][session]
    dataset = stream.datasets[session]
    if part["dataset"] != dataset:
        raise InputDataError(
            f"fold {entry['name']!r} lists session {session + 1} as {part['dataset']}", dataset=dataset
        )
    level = level_of(folds)
    rows = stream.rows[stream.rows["session"] == session]
    named = {"name": f"{entry['name']}/{dataset}", "train": part["train"], "test": part["test"]}
    train, test = split_fold(rows, named, level)
    shared = set(row_keys(train, level)) & set(row_keys(test, level))
    if shared:
        raise LeakageError(f"fold {named['name']!r}: {level}s on both sides: {sorted(shared)[:5]}")
    return train, test


def _resize(tensor: torch.Tensor, size: int) -> torch.Tensor:
    """(C, S, S) → (C, size, size): area averaging when shrinking, antialiased bilinear when enlarging."""
    batch = tensor.unsqueeze(0)
    if batch.shape[-1] > size:
        batch = F.interpolate(batch, size=(size, size), mode="area")
    elif batch.shape[-1] < size:
        batch = F.interpolate(batch, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return batch.squeeze(0)


def imagenet_input(array: np.ndarray, size: int) -> torch.Tensor:
    """An RGB uint8-valued (3, S, S) face crop → (3, size, size) in ImageNet mean/std units."""
    tensor = _resize(torch.from_numpy(array), size) / 255.0
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (tensor - mean) / std


Scaling = Callable[[np.ndarray, int], torch.Tensor]
# Input kinds scaled otherwise than by to_model_input's per-channel max-|value| division.
SCALING: dict[str, Scaling] = {"apex_frame": imagenet_input, "onset_frame": imagenet_input}
SCALING_NAMES: dict[Scaling, str] = {
    imagenet_input: "RGB / 255, then ImageNet mean/std",
    to_model_input: "each channel divided by its max |value|",
}


def input_scaling(name: str) -> Scaling:
    """How input kind `name` is scaled (ImageNet statistics for face crops, max-|value| otherwise)."""
    return SCALING.get(name, to_model_input)


def load_session_inputs(rows: pd.DataFrame, input_name: str, size: int, sources: InputSources) -> torch.Tensor:
    """(N, C, size, size) float32 inputs of `rows`, in row order."""
    arrays = input_kind(input_name).read(rows.reset_index(drop=True), sources)
    scale = input_scaling(input_name)
    return torch.stack([scale(array, size) for array in arrays]).float()


def session_data(index: int, stream: Stream, rows: pd.DataFrame, x: torch.Tensor) -> SessionData:
    """The learner's view of session `index`: training inputs with fine and global labels, nothing else."""
    if len(rows) != len(x) or set(rows["session"]) != {index}:
        raise InputDataError(f"session {index + 1} data must hold its own {len(rows)} training rows only")
    classes = tuple(i for i, s in enumerate(stream.labels.fine_session) if s == index)
    return SessionData(
        index=index,
        dataset=stream.datasets[index],
        x=x,
        y_fine=torch.tensor(rows["fine_index"].to_numpy(dtype=np.int64)),
        y_global=torch.tensor(rows["global_index"].to_numpy(dtype=np.int64)),
        fine_classes=classes,
    )
