"""Input kinds by name (params.yaml `experiments.<name>.input`): what a sample's tensor is made of.

* flow kinds read the per-subject flow cache (`mer.flow.cache`): `rise_flow` (onset→apex
  u, v, strain), `fall_flow` (apex→offset), `rise_fall_flow` (both, 6 channels);
* `instance_flows` reads the multi-instance set (`instances`, onset → N middle frames, cached
  when params `flow.instances` = N > 0) and stacks it along channels (3·N channels);
* difference kinds read the face crops (`data/interim/<ds>/faces/<subject>.h5`) at the
  frames keyframes.csv chose: `rise_diff` = apex − onset, `fall_diff` = apex − offset (RGB,
  3 channels, computed in float so uint8 never wraps), `rise_fall_diff` (both, 6 channels);
* `onset_frame` reads the onset face crop itself (RGB, 3 channels), e.g. for GAMDSS's spatial
  branch, which needs the resting face; `apex_frame` the apex face crop (the IMER benchmark's
  input, docs/imer.md).

Each kind returns raw float32 (C, S, S) arrays (the model's channel count is read from them);
resizing and per-sample scaling happen in `mer.training.data.to_model_input`. Every file is
opened once per subject per job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from mer.errors import InputDataError

SubjectPath = Callable[[str, str], Path]
FLOW_CHANNELS = 3
KEYFRAME_COLUMNS = ["dataset", "subject", "clip", "onset", "apex", "offset"]


@dataclass(frozen=True)
class InputSources:
    """Where a job's inputs live: flow caches, face crops and keyframe tables, by dataset/subject."""

    flow: SubjectPath
    faces: SubjectPath | None = None
    keyframes: Callable[[str], Path] | None = None
    # Which keyframes.csv triple face-based inputs read: None = the one `keyframes.mode` chose;
    # "annotated" / "reselected" / "spotted" = that column set (experiments.<name>.keyframes).
    triple: str | None = None


@dataclass(frozen=True)
class InputKind:
    """One input kind: the cache it reads ("flow" or "faces") and its reader."""

    source: str
    read: Callable[[pd.DataFrame, InputSources], list[np.ndarray]]


def _checked(array: np.ndarray, what: str, where: dict[str, str]) -> np.ndarray:
    if array.ndim != 3 or array.shape[0] != FLOW_CHANNELS or array.shape[1] != array.shape[2]:
        raise InputDataError(f"{what} has shape {array.shape}, expected (3, S, S)", **where)
    if not np.isfinite(array).all():
        raise InputDataError(f"{what} holds NaN or infinite values", **where)
    return array


def read_flow_sample(path: Path, clip: str, kinds: tuple[str, ...], dataset: str, subject: str) -> np.ndarray:
    """One clip's cached flows concatenated along channels: float32 (3·k, S, S), checked finite."""
    from mer.flow.cache import load_flow  # the flow package pulls in torch; the workflow's parse need not

    where = {"dataset": dataset, "subject": subject, "clip": clip, "path": str(path)}
    return np.concatenate([_checked(load_flow(path, clip, kind), f"{kind!r} flow", where) for kind in kinds])


def _flow_kind(kinds: tuple[str, ...]) -> InputKind:
    def read(rows: pd.DataFrame, sources: InputSources) -> list[np.ndarray]:
        return [
            read_flow_sample(Path(sources.flow(d, s)), c, kinds, d, s)
            for d, s, c in zip(rows["dataset"], rows["subject"], rows["clip"], strict=True)
        ]

    return InputKind(source="flow", read=read)


def read_instances(path: Path, clip: str, dataset: str, subject: str) -> np.ndarray:
    """One clip's cached multi-instance flows (N, 3, S, S) stacked along channels: (3·N, S, S)."""
    from mer.flow.cache import load_flow

    where = {"dataset": dataset, "subject": subject, "clip": clip, "path": str(path)}
    stack = load_flow(path, clip, "instances")
    if stack.ndim != 4 or len(stack) == 0:
        raise InputDataError(f"instances flow has shape {stack.shape}, expected (N, 3, S, S)", **where)
    return np.concatenate([_checked(flow, f"instance {i} flow", where) for i, flow in enumerate(stack)])


def _instances_kind() -> InputKind:
    def read(rows: pd.DataFrame, sources: InputSources) -> list[np.ndarray]:
        arrays = [
            read_instances(Path(sources.flow(d, s)), c, d, s)
            for d, s, c in zip(rows["dataset"], rows["subject"], rows["clip"], strict=True)
        ]
        sizes = sorted({len(array) for array in arrays})
        if len(sizes) > 1:
            raise InputDataError(
                f"instance_flows stacks a fixed number of instances, but the cached sets hold {sizes} channels: "
                "use flow.instances: N (an integer), or a method that samples its instances (ra_icl)"
            )
        return arrays

    return InputKind(source="flow", read=read)


def _keyframes(sources: InputSources, datasets: list[str]) -> dict[tuple[str, str, str], tuple[int, int, int]]:
    """(dataset, subject, clip) → (onset, apex, offset) from each dataset's keyframes.csv."""
    if sources.keyframes is None or sources.faces is None:
        raise InputDataError("difference-frame inputs need the face crops and keyframes.csv")
    table = {}
    for dataset in datasets:
        path = Path(sources.keyframes(dataset))
        if not path.is_file():
            raise InputDataError("keyframes.csv not found", dataset=dataset, path=str(path))
        frame = pd.read_csv(path, dtype={"subject": str, "clip": str, "dataset": str})
        columns = KEYFRAME_COLUMNS[:3] + [f"{c}_{sources.triple}" if sources.triple else c for c in KEYFRAME_COLUMNS[3:]]
        if missing := sorted(set(columns) - set(frame.columns)):
            raise InputDataError(f"keyframes.csv lacks columns {missing}", dataset=dataset, path=str(path))
        for d, s, c, onset, apex, offset in frame[columns].itertuples(index=False):
            table[(d, s, c)] = (int(onset), int(apex), int(offset))
    return table


def _face(crops: h5py.Group, number: int, where: dict[str, str]) -> np.ndarray:
    positions = np.flatnonzero(crops["frame_numbers"][()] == number)
    if len(positions) == 0:
        raise InputDataError("keyframe is missing from the face crops", **where, frame=number)
    return crops["frames"][int(positions[0])].astype(np.float32)


def _diff_kind(pairs: tuple[tuple[int, int], ...]) -> InputKind:
    """Differences frame[a] − frame[b] of the (onset, apex, offset) triple, one RGB block per pair."""

    def blocks(frames: list[np.ndarray]) -> list[np.ndarray]:
        return [(frames[a] - frames[b]).transpose(2, 0, 1) for a, b in pairs]

    return _faces_kind(blocks, "difference image")


def _frame_kind(index: int) -> InputKind:
    """One keyframe of the (onset, apex, offset) triple itself, as an RGB (3, S, S) block."""

    def blocks(frames: list[np.ndarray]) -> list[np.ndarray]:
        return [frames[index].transpose(2, 0, 1)]

    return _faces_kind(blocks, "face crop")


def _faces_kind(blocks: Callable[[list[np.ndarray]], list[np.ndarray]], what: str) -> InputKind:
    """RGB blocks made by `blocks` from each clip's float32 (onset, apex, offset) face crops, stacked."""

    def read(rows: pd.DataFrame, sources: InputSources) -> list[np.ndarray]:
        keyframes = _keyframes(sources, sorted(set(rows["dataset"])))
        out: dict[int, np.ndarray] = {}
        for (dataset, subject), group in rows.groupby(["dataset", "subject"], sort=True):
            path = Path(sources.faces(dataset, subject))
            if not path.is_file():
                raise InputDataError("face crops file not found", dataset=dataset, subject=subject, path=str(path))
            with h5py.File(path, "r") as faces:
                for index, clip in zip(group.index, group["clip"], strict=True):
                    where = {"dataset": dataset, "subject": subject, "clip": clip, "path": str(path)}
                    if (dataset, subject, clip) not in keyframes:
                        raise InputDataError("clip is missing from keyframes.csv", **where)
                    if clip not in faces:
                        raise InputDataError("clip is missing from the face crops file", **where)
                    frames = [_face(faces[clip], n, where) for n in keyframes[(dataset, subject, clip)]]
                    out[index] = np.concatenate([_checked(b, what, where) for b in blocks(frames)])
        return [out[index] for index in rows.index]

    return InputKind(source="faces", read=read)


ONSET, APEX, OFFSET = 0, 1, 2
INPUTS: dict[str, InputKind] = {
    "rise_flow": _flow_kind(("rise",)),
    "fall_flow": _flow_kind(("fall",)),
    "rise_fall_flow": _flow_kind(("rise", "fall")),
    "instance_flows": _instances_kind(),
    "rise_diff": _diff_kind(((APEX, ONSET),)),
    "fall_diff": _diff_kind(((APEX, OFFSET),)),
    "rise_fall_diff": _diff_kind(((APEX, ONSET), (APEX, OFFSET))),
    "onset_frame": _frame_kind(ONSET),
    "apex_frame": _frame_kind(APEX),
}


def input_names(experiment: dict[str, Any]) -> list[str]:
    """The experiment's input kinds: `input` is one name or a list of names (methods with several inputs)."""
    names = experiment["input"]
    return [names] if isinstance(names, str) else list(names)


def input_kind(name: str) -> InputKind:
    """The registered input kind `name`; InputDataError lists the known ones otherwise."""
    try:
        return INPUTS[name]
    except KeyError:
        raise InputDataError(f"unknown input {name!r}; known inputs: {', '.join(sorted(INPUTS))}") from None
