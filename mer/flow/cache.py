"""Per-subject HDF5 cache of rise (onset→apex) and fall (apex→offset) flow plus optical strain.

Each clip group holds float32 (3, S, S) datasets `rise` and `fall` = (u, v, strain), raw and
never normalised on disk (normalisation is a load-time transform). Writes are atomic and
carry no timestamps, so a rerun on the same inputs yields identical bytes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import pandas as pd

from mer import h5
from mer.errors import InputDataError
from mer.flow import backends
from mer.flow.strain import SCHEME, optical_strain

KINDS = ("rise", "fall")


def flow_subject(faces_h5: Path, keyframes: pd.DataFrame, flow: dict[str, Any], out_path: Path) -> None:
    """Compute and cache flow for every keyframes.csv row of one subject.

    `keyframes` holds that subject's rows (columns dataset, subject, clip, onset, apex,
    offset: the frames chosen under keyframes.mode); `flow` is the params section (backend,
    size, tvl1). Face crops are converted to greyscale and resized to flow.size (INTER_AREA)
    when the crop size differs. Group attributes: rise_frames, fall_frames, backend, tvl1
    (JSON), strain (scheme), size, plus box (the crop box) and input_sha256 (of the three
    uint8 RGB crops used) for provenance.
    """
    backend = backends.get(flow["backend"])
    size = int(flow["size"])
    tvl1_json = json.dumps(flow["tvl1"], sort_keys=True)
    faces_h5 = Path(faces_h5)
    if not faces_h5.is_file():
        raise InputDataError("face crops file not found", path=str(faces_h5))
    with h5py.File(faces_h5, "r") as faces, h5.open_for_write(out_path) as out:
        dataset, subject = str(faces.attrs["dataset"]), str(faces.attrs["subject"])
        out.attrs["dataset"], out.attrs["subject"] = dataset, subject
        for row in keyframes.sort_values("clip").itertuples(index=False):
            where = {"dataset": dataset, "subject": subject, "clip": str(row.clip)}
            if str(row.subject) != subject:
                raise InputDataError(f"keyframes row belongs to subject {row.subject}", **where, path=str(faces_h5))
            if where["clip"] not in faces:
                raise InputDataError("clip is missing from the face crops file", **where, path=str(faces_h5))
            crops = faces[where["clip"]]
            keys = (int(row.onset), int(row.apex), int(row.offset))
            rgb = [_frame(crops, number, where, faces_h5) for number in keys]
            grey = [_grey(image, size) for image in rgb]
            group = h5.create_group(out, where["clip"])
            for kind, (first, second) in zip(KINDS, ((0, 1), (1, 2)), strict=True):
                uv = backend.compute(grey[first], grey[second], flow["tvl1"])
                stack = np.concatenate([uv, optical_strain(uv)[None]]).astype(np.float32)
                h5.create_dataset(group, kind, stack)
                group.attrs[f"{kind}_frames"] = np.array([keys[first], keys[second]], dtype=np.int32)
            group.attrs["backend"] = backend.label
            group.attrs["tvl1"] = tvl1_json
            group.attrs["strain"] = SCHEME
            group.attrs["size"] = size
            group.attrs["box"] = crops.attrs["box"]
            group.attrs["input_sha256"] = hashlib.sha256(b"".join(image.tobytes() for image in rgb)).hexdigest()


def _frame(crops: h5py.Group, number: int, where: dict[str, str], path: Path) -> np.ndarray:
    """The uint8 RGB crop of frame `number`; InputDataError naming the frame when it is absent."""
    positions = np.flatnonzero(crops["frame_numbers"][()] == number)
    if len(positions) == 0:
        raise InputDataError("keyframe is missing from the face crops", **where, frame=number, path=str(path))
    return crops["frames"][int(positions[0])]


def _grey(image: np.ndarray, size: int) -> np.ndarray:
    """uint8 greyscale at size × size (INTER_AREA only when the crop size differs)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if grey.shape != (size, size):
        grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
    return grey


def load_flow(path: Path, clip: str, kind: str) -> np.ndarray:
    """The cached float32 (3, S, S) = (u, v, strain) `kind` ('rise' or 'fall') flow of `clip`."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    path = Path(path)
    if not path.is_file():
        raise InputDataError("flow cache file not found", clip=clip, path=str(path))
    with h5py.File(path, "r") as cache:
        if clip not in cache or kind not in cache[clip]:
            raise InputDataError(
                f"{kind} flow of the clip is missing from the flow cache (rerun `mer flow`)",
                dataset=str(cache.attrs.get("dataset")),
                subject=str(cache.attrs.get("subject")),
                clip=clip,
                path=str(path),
            )
        return np.asarray(cache[clip][kind][()], dtype=np.float32)
