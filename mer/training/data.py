"""Model inputs for one fold: classes from the manifest, the fold split, and input tensors.

Inputs (flow from the per-subject HDF5 caches, or difference images from the face crops;
see `mer.training.inputs`) are read once per job and kept in memory; no epoch decodes
anything. Resizing and normalisation happen here, at load time, from each sample alone, so
no statistic of the test subjects can reach training:

* resize to `input_size` with `area` interpolation when shrinking (an average over the
  covered pixels, i.e. anti-aliased) and antialiased bilinear when enlarging;
* scaled by `experiment.input_scaling` (SCALINGS). The default, `per_channel`, divides each
  channel by its own maximum absolute value, so values lie in [-1, 1], the sign of motion is
  kept and zero still means "no motion" (an all-zero channel stays zero); the division also
  cancels the change of pixel units that resizing a flow field implies. It also discards how
  far anything moved and, with separate u and v maxima, the flow's direction (issue 13,
  hypothesis 2), so `per_sample` (one maximum over all of a sample's channels: direction and
  the channels' ratios kept) and `none` (values as cached: flow in pixels at `flow.size`,
  images in grey levels) are the alternatives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from mer.errors import InputDataError
from mer.protocols.folds import LEVELS, member_keys
from mer.training.inputs import InputSources, input_kind

KEY_COLUMNS = ["dataset", "subject", "clip"]


def class_names(manifest: pd.DataFrame) -> list[str]:
    """Class names ordered by label_index; the indices must be 0..C-1, each with one name."""
    pairs = manifest[["label_index", "label"]].drop_duplicates()
    by_index = pairs.groupby("label_index")["label"].unique()
    for index, labels in by_index.items():
        if len(labels) > 1:
            raise InputDataError(f"label_index {index} has several labels: {sorted(map(str, labels))}")
    by_name = pairs.groupby("label")["label_index"].nunique()
    if (by_name > 1).any():
        raise InputDataError(f"labels with several indices: {sorted(by_name[by_name > 1].index)}")
    indices = sorted(int(i) for i in by_index.index)
    if indices != list(range(len(indices))):
        raise InputDataError(f"label_index values must be 0..C-1, found {indices}")
    return [str(by_index[i][0]) for i in indices]


def row_keys(rows: pd.DataFrame, level: str) -> list[tuple[str, ...]]:
    """Each row's unit at `level`: (dataset, subject) or (dataset, subject, clip), as strings."""
    columns = KEY_COLUMNS[: LEVELS[level]]
    return list(zip(*(rows[c].astype(str) for c in columns), strict=True))


def split_fold(
    manifest: pd.DataFrame, fold: dict[str, Any], level: str = "subject"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Manifest rows of the fold's training and test units (subjects or samples), sorted by key."""
    keys = row_keys(manifest, level)
    train_keys, test_keys = member_keys(fold["train"], level), member_keys(fold["test"], level)
    in_train = np.array([key in train_keys for key in keys], dtype=bool)
    in_test = np.array([key in test_keys for key in keys], dtype=bool)
    order = KEY_COLUMNS
    train = manifest[in_train].astype({c: str for c in order}).sort_values(order, kind="stable")
    test = manifest[in_test].astype({c: str for c in order}).sort_values(order, kind="stable")
    for part, rows in (("train", train), ("test", test)):
        if rows.empty:
            raise InputDataError(f"fold {fold['name']!r} has no {part} samples in the manifest")
    return train.reset_index(drop=True), test.reset_index(drop=True)


def sample_keys_digest(rows: pd.DataFrame) -> str:
    """SHA-256 of the rows' (dataset, subject, clip) keys, to tie a checkpoint to its training set."""
    text = "\n".join(f"{d}\t{s}\t{c}" for d, s, c in zip(rows["dataset"], rows["subject"], rows["clip"], strict=True))
    return hashlib.sha256(text.encode()).hexdigest()


def tensor_digest(*tensors: torch.Tensor) -> str:
    """SHA-256 of tensors' shapes, dtypes and bytes: ties a checkpoint to the exact training data."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(f"{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _divide_by_max(tensor: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    scale = tensor.abs().amax(dim=dims, keepdim=True)
    return torch.where(scale > 0, tensor / scale.clamp_min(torch.finfo(tensor.dtype).tiny), tensor)


# How a resized (C, size, size) input is scaled (experiment key `input_scaling`).
SCALINGS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "per_channel": lambda tensor: _divide_by_max(tensor, (1, 2)),
    "per_sample": lambda tensor: _divide_by_max(tensor, (0, 1, 2)),
    "none": lambda tensor: tensor,
}
DEFAULT_SCALING = "per_channel"


def scaling_of(experiment: dict[str, Any]) -> str:
    """The experiment's `input_scaling` (DEFAULT_SCALING when unset)."""
    return experiment.get("input_scaling", DEFAULT_SCALING)


def to_model_input(flow: np.ndarray, size: int, scaling: str = DEFAULT_SCALING) -> torch.Tensor:
    """Resize one (C, S, S) array to (C, size, size) and scale it by SCALINGS[`scaling`]."""
    tensor = torch.from_numpy(flow).unsqueeze(0)
    if tensor.shape[-1] > size:
        tensor = F.interpolate(tensor, size=(size, size), mode="area")
    elif tensor.shape[-1] < size:
        tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return SCALINGS[scaling](tensor.squeeze(0))


def load_inputs(
    rows: pd.DataFrame, input_name: str, size: int, sources: InputSources, scaling: str = DEFAULT_SCALING
) -> torch.Tensor:
    """(N, C, size, size) float32 model inputs for `rows`, in row order."""
    arrays = input_kind(input_name).read(rows.reset_index(drop=True), sources)
    return torch.stack([to_model_input(array, size, scaling) for array in arrays])
