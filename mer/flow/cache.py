"""Per-subject HDF5 cache of rise (onset→apex) and fall (apex→offset) flow plus optical strain.

Each clip group holds float32 (3, S, S) datasets `rise` and `fall` = (u, v, strain) and,
unless flow.instances = 0, `instances` (K, 3, S, S): onset → K later frames (the
multi-instance set of apex-free methods), whose frame numbers are the `instance_frames`
attribute. flow.instances says which frames: an integer N = N evenly spaced frames after
the onset up to the offset, `all` = every such frame, `{stride: k}` = every k-th one.
Methods choose their instances from that superset at load time (`load_instances`). Values
are raw and never normalised on disk (normalisation is a load-time transform). Writes are
atomic and carry no timestamps, so a rerun on the same inputs and device yields identical
bytes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import pandas as pd

from mer import __version__, h5
from mer.errors import ConfigError, InputDataError
from mer.flow import backends
from mer.flow.strain import SCHEME, optical_strain

KINDS = ("rise", "fall", "instances")


def flow_subject(faces_h5: Path, keyframes: pd.DataFrame, flow: dict[str, Any], out_path: Path) -> None:
    """Compute and cache flow for every keyframes.csv row of one subject.

    `keyframes` holds that subject's rows (columns dataset, subject, clip, onset, apex,
    offset: the frames chosen under keyframes.mode); `flow` is the params section (backend,
    device, size, instances, tvl1). Face crops are converted to greyscale and resized to
    flow.size (INTER_AREA) when the crop size differs. All pairs of a clip go to the backend
    as one batch. Group attributes: rise_frames, fall_frames, instance_frames, backend
    (label), device, tvl1 (JSON), strain (scheme), size, code_version, box (the crop box) and
    input_sha256 (of the uint8 RGB crops used, in pair order) for provenance.
    """
    name, device = backends.choose(str(flow["backend"]), str(flow.get("device", "auto")), flow["tvl1"])
    backend = backends.get(name)
    size = int(flow["size"])
    rule = flow.get("instances", 0)
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
            onset, apex, offset = int(row.onset), int(row.apex), int(row.offset)
            middles = instance_frames(crops["frame_numbers"][()], onset, offset, rule)
            pairs = [(onset, apex), (apex, offset)] + [(onset, number) for number in middles]
            numbers = sorted({number for pair in pairs for number in pair})
            rgb = {number: _frame(crops, number, where, faces_h5) for number in numbers}
            grey = {number: _grey(image, size) for number, image in rgb.items()}
            uv = backend.compute(
                np.stack([grey[first] for first, _ in pairs]),
                np.stack([grey[second] for _, second in pairs]),
                flow["tvl1"],
                device,
            )
            stack = np.concatenate([uv, optical_strain(uv)[:, None]], axis=1).astype(np.float32)
            group = h5.create_group(out, where["clip"])
            h5.create_dataset(group, "rise", stack[0])
            h5.create_dataset(group, "fall", stack[1])
            if rule != 0:
                h5.create_dataset(group, "instances", stack[2:])
            group.attrs["rise_frames"] = np.array(pairs[0], dtype=np.int32)
            group.attrs["fall_frames"] = np.array(pairs[1], dtype=np.int32)
            group.attrs["instance_frames"] = np.array(middles, dtype=np.int32)
            group.attrs["backend"] = backend.label
            group.attrs["device"] = device
            group.attrs["tvl1"] = tvl1_json
            group.attrs["strain"] = SCHEME
            group.attrs["size"] = size
            group.attrs["code_version"] = __version__
            group.attrs["box"] = crops.attrs["box"]
            digest = hashlib.sha256(b"".join(rgb[number].tobytes() for pair in pairs for number in pair))
            group.attrs["input_sha256"] = digest.hexdigest()


def instance_frames(frame_numbers: np.ndarray, onset: int, offset: int, rule: int | str | dict[str, int]) -> list[int]:
    """Frame numbers of a clip's cached instances under flow.instances `rule` (see the module doc).

    `all` and `{stride: k}` take the sorted frames in (onset, offset], every k-th from the first;
    an integer N takes `middle_frames` (N evenly spaced; 0 = none).
    """
    if rule == "all":
        rule = {"stride": 1}
    if isinstance(rule, dict) and set(rule) == {"stride"} and _count(rule["stride"]) >= 1:
        numbers = np.sort(frame_numbers[(frame_numbers > onset) & (frame_numbers <= offset)])
        return [int(number) for number in numbers[:: rule["stride"]]]
    if _count(rule) >= 0:
        return middle_frames(frame_numbers, onset, offset, int(rule))
    raise ConfigError(f"flow.instances must be an integer >= 0, 'all' or {{stride: k >= 1}}, not {rule!r}")


def _count(value: object) -> int:
    """`value` if it is a plain int, else -1 (so that bools and strings never pass as counts)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


def middle_frames(frame_numbers: np.ndarray, onset: int, offset: int, count: int) -> list[int]:
    """`count` frame numbers evenly spaced over the clip's frames after onset up to offset.

    Positions are round(linspace(0, n − 1, count)) over the n available frames in
    (onset, offset], so short clips repeat frames rather than invent them; [] when count is 0.
    """
    if count == 0:
        return []
    numbers = np.sort(frame_numbers[(frame_numbers > onset) & (frame_numbers <= offset)])
    if len(numbers) == 0:
        return []
    positions = np.rint(np.linspace(0, len(numbers) - 1, count)).astype(int)
    return [int(numbers[position]) for position in positions]


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
    """The cached float32 (3, S, S) = (u, v, strain) `kind` flow of `clip`.

    `kind` is 'rise', 'fall' or 'instances' (then (K, 3, S, S), present unless flow.instances = 0).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    with _open(path, clip) as cache:
        return np.asarray(_clip_group(cache, clip, kind, path)[kind][()], dtype=np.float32)


@dataclass(frozen=True)
class InstanceSet:
    """A clip's cached multi-instance flows, the frame numbers they end at, and the clip's keyframes."""

    flows: np.ndarray  # float32 (K, 3, S, S): onset → frames[k]
    frames: np.ndarray  # int64 (K,), in cache order (sorted; integer rules may repeat a frame)
    onset: int
    apex: int
    offset: int


def load_instances(path: Path, clip: str) -> InstanceSet:
    """The cached instance set of `clip` with its `instance_frames` and (onset, apex, offset) attributes."""
    with _open(path, clip) as cache:
        group = _clip_group(cache, clip, "instances", path)
        absent = sorted({"instance_frames", "rise_frames", "fall_frames"} - set(group.attrs))
        if absent:
            raise InputDataError(f"the clip's flow cache lacks {absent} (rerun `mer flow`)", clip=clip, path=str(path))
        flows = np.asarray(group["instances"][()], dtype=np.float32)
        frames = np.asarray(group.attrs["instance_frames"], dtype=np.int64)
        (onset, apex), (_, offset) = group.attrs["rise_frames"], group.attrs["fall_frames"]
    if flows.ndim != 4 or len(flows) != len(frames):
        raise InputDataError(
            f"instances flow has shape {flows.shape} for {len(frames)} instance_frames", clip=clip, path=str(path)
        )
    return InstanceSet(flows, frames, int(onset), int(apex), int(offset))


def _open(path: Path, clip: str) -> h5py.File:
    """The flow cache opened read-only; InputDataError when the file is absent."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError("flow cache file not found", clip=clip, path=str(path))
    return h5py.File(path, "r")


def _clip_group(cache: h5py.File, clip: str, kind: str, path: Path) -> h5py.Group:
    """The clip's group when it holds `kind`; InputDataError naming the sample otherwise."""
    if clip not in cache or kind not in cache[clip]:
        raise InputDataError(
            f"{kind} flow of the clip is missing from the flow cache (rerun `mer flow`)",
            dataset=str(cache.attrs.get("dataset")),
            subject=str(cache.attrs.get("subject")),
            clip=clip,
            path=str(path),
        )
    return cache[clip]
