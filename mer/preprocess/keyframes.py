"""GAMDSS dynamic keyframe reselection (Algorithm 1 of the GAMDSS paper), label-free.

Around the annotated onset and apex, every candidate (onset, apex) pair is scored by the L2
norm of the pixel difference of the two face crops; the best pair replaces the annotation.
The offset is then reselected around the annotated offset as the frame that differs most
from the new apex. The rule uses no label, so it is applied identically to every sample
(train and test alike) and cached once in keyframes.csv, next to the annotated keyframes
and the spotted apex (`mer.preprocess.spotting`); `keyframes.mode` switches between them.

The apex is searched backwards from the annotation by default (Algorithm 1 and GAMDSS's code);
`keyframes.apex_window: symmetric` searches both sides, as Eq. 2 states. Frames are cast to
float64 before subtracting: GAMDSS's own code subtracts uint8 images, which wraps modulo 256
and changes which pair wins. Choices where Algorithm 1 is ambiguous (window shapes, truncation
of R, clamping, ties) are listed in docs/methods.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from mer.errors import ConfigError, InputDataError
from mer.preprocess.spotting import spot_apex

COLUMNS = (
    "dataset",
    "subject",
    "clip",
    "onset_annotated",
    "apex_annotated",
    "offset_annotated",
    "onset_reselected",
    "apex_reselected",
    "offset_reselected",
    "onset_spotted",
    "apex_spotted",
    "offset_spotted",
    "spotting",
    "rise_diff_annotated",
    "rise_diff_reselected",
    "fall_diff_annotated",
    "fall_diff_reselected",
    "mode",
    "onset",
    "apex",
    "offset",
)


def _backward(numbers: np.ndarray, apex: int, radius: int) -> np.ndarray:
    """apex − R … apex: Algorithm 1 lines 10–15 (a − j, a − n) and GAMDSS's code (`apex - index`)."""
    return numbers[(numbers >= apex - radius) & (numbers <= apex)]


def _symmetric(numbers: np.ndarray, apex: int, radius: int) -> np.ndarray:
    """apex − R … apex + R: Eq. 2's a ∈ [apex − R, apex + R], the count L = (R + 1)(2R + 1)."""
    return numbers[(numbers >= apex - radius) & (numbers <= apex + radius)]


# `keyframes.apex_window` → the stored frame numbers that may become the apex (annotated apex, radius R).
APEX_WINDOWS: dict[str, Callable[[np.ndarray, int, int], np.ndarray]] = {
    "backward": _backward,
    "symmetric": _symmetric,
}


def apex_candidates(name: str) -> Callable[[np.ndarray, int, int], np.ndarray]:
    """The candidate function of apex window `name`; a ConfigError naming `keyframes.apex_window` otherwise."""
    if name not in APEX_WINDOWS:
        raise ConfigError(f"keyframes.apex_window must be one of {sorted(APEX_WINDOWS)}, not {name!r}")
    return APEX_WINDOWS[name]


@dataclass(frozen=True)
class Reselection:
    """Reselected keyframes (frame numbers), the search radii and the criterion ||f_a − f_b||₂.

    `rise_diff_*` compare apex with onset and `fall_diff_*` apex with offset, for the
    annotated and the reselected frames respectively.
    """

    onset: int
    apex: int
    offset: int
    r_rise: int
    r_fall: int
    rise_diff_annotated: float
    rise_diff_reselected: float
    fall_diff_annotated: float
    fall_diff_reselected: float


def reselect(
    frames: np.ndarray,
    frame_numbers: np.ndarray,
    onset: int,
    apex: int,
    offset: int,
    lambda_rise: float,
    lambda_fall: float,
    apex_window: str = "backward",
) -> Reselection:
    """Reselect onset, apex and offset of one clip.

    `frames` is (T, ...) of any numeric dtype, `frame_numbers` the (T,) frame number of each
    frame. Windows (frame numbers, intersected with the frames present):
    R_rise = int(λ_rise·(apex − onset)), R_fall = int(λ_fall·(offset − apex));
    onset candidates onset … onset + R_rise; apex candidates `APEX_WINDOWS[apex_window]`
    (backward: apex − R_rise … apex, Algorithm 1; symmetric: apex − R_rise … apex + R_rise,
    Eq. 2), kept before the annotated offset (the annotated apex always stays); pairs with
    onset < apex; offset candidates
    offset − R_fall … offset + R_fall after the new apex (so the fall is never empty when
    the annotated apex precedes the offset). Exact ties go to the candidate closest to the annotation, then the earliest.
    Raises InputDataError (with `frame`) when an annotated frame is absent, ConfigError for an
    unknown `apex_window`.
    """
    candidates = apex_candidates(apex_window)
    onset, apex, offset = int(onset), int(apex), int(offset)
    if not onset <= apex <= offset:
        raise InputDataError(f"keyframes out of order: onset {onset}, apex {apex}, offset {offset}")
    numbers = np.asarray(frame_numbers, dtype=np.int64)
    position = {int(n): i for i, n in enumerate(numbers)}
    for frame in (onset, apex, offset):
        if frame not in position:
            raise InputDataError("annotated keyframe is missing from the face crops", frame=frame)
    r_rise = int(lambda_rise * (apex - onset))
    r_fall = int(lambda_fall * (offset - apex))

    onsets = numbers[(numbers >= onset) & (numbers <= onset + r_rise)]
    apexes = candidates(numbers, apex, r_rise)
    apexes = apexes[(apexes < offset) | (apexes == apex)]
    needed = np.union1d(np.union1d(onsets, apexes), numbers[np.abs(numbers - offset) <= r_fall])
    needed = np.union1d(needed, [onset, apex, offset])
    rows = {int(n): i for i, n in enumerate(needed)}
    flat = np.asarray(frames)[[position[int(n)] for n in needed]].reshape(len(needed), -1).astype(np.float64)

    def distances(sources: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """||f_target − f_source||₂ for every (source, target) pair, shape (len(sources), len(targets))."""
        stack = flat[[rows[int(n)] for n in targets]]
        out = np.empty((len(sources), len(targets)))
        for i, n in enumerate(sources):
            diff = stack - flat[rows[int(n)]]
            out[i] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        return out

    new_onset, new_apex = onset, apex
    grid_o, grid_a = np.meshgrid(onsets, apexes, indexing="ij")
    valid = grid_o < grid_a
    if valid.any():
        score = distances(onsets, apexes)[valid]
        cand_o, cand_a = grid_o[valid], grid_a[valid]
        closeness = np.abs(cand_o - onset) + np.abs(cand_a - apex)
        best = np.lexsort((cand_a, cand_o, closeness, -score))[0]
        new_onset, new_apex = int(cand_o[best]), int(cand_a[best])

    offsets = numbers[(np.abs(numbers - offset) <= r_fall) & (numbers > new_apex)]
    new_offset = max(offset, new_apex)
    if len(offsets):
        score = distances(np.array([new_apex]), offsets)[0]
        best = np.lexsort((offsets, np.abs(offsets - offset), -score))[0]
        new_offset = int(offsets[best])

    def diff(a: int, b: int) -> float:
        return float(distances(np.array([a]), np.array([b]))[0, 0])

    return Reselection(
        onset=new_onset,
        apex=new_apex,
        offset=new_offset,
        r_rise=r_rise,
        r_fall=r_fall,
        rise_diff_annotated=diff(onset, apex),
        rise_diff_reselected=diff(new_onset, new_apex),
        fall_diff_annotated=diff(apex, offset),
        fall_diff_reselected=diff(new_apex, new_offset),
    )


MODES = ("annotated", "reselected", "spotted")


def keyframes_table(
    manifest: pd.DataFrame, faces_dir: Path, keyframes: dict[str, Any], flow: dict[str, Any] | None = None
) -> pd.DataFrame:
    """keyframes.csv rows (columns `COLUMNS`, manifest order) from the crops in faces/<subject>.h5.

    `keyframes` is the params section (mode, lambda_rise, lambda_fall, apex_window, spotting.method);
    `flow` the flow section, read only by the flow_magnitude spotter. Every row carries all
    three triples (annotated, GAMDSS-reselected, spotted: annotated onset and offset with the
    apex of maximum motion); `mode` picks which triple fills the final onset/apex/offset
    columns downstream stages use.
    """
    mode = keyframes["mode"]
    if mode not in MODES:
        raise ValueError(f"keyframes.mode must be one of {MODES}, not {mode!r}")
    records: dict[Any, dict[str, Any]] = {}
    for subject, rows in manifest.groupby("subject", sort=False):
        path = Path(faces_dir) / f"{subject}.h5"
        dataset = str(rows["dataset"].iloc[0])
        if not path.is_file():
            raise InputDataError("face crops file not found", dataset=dataset, subject=str(subject), path=str(path))
        with h5py.File(path, "r") as faces:
            for index, row in rows.iterrows():
                records[index] = _row(row, faces, path, keyframes, flow or {})
    return pd.DataFrame([records[index] for index in manifest.index], columns=list(COLUMNS))


def _row(row: pd.Series, faces: h5py.File, path: Path, keyframes: dict[str, Any], flow: dict[str, Any]) -> dict[str, Any]:
    """One keyframes.csv record; errors name the sample."""
    where = {"dataset": str(row["dataset"]), "subject": str(row["subject"]), "clip": str(row["clip"])}
    if where["clip"] not in faces:
        raise InputDataError("clip is missing from the face crops file", **where, path=str(path))
    group = faces[where["clip"]]
    frames, numbers = group["frames"][()], group["frame_numbers"][()]
    onset, apex, offset = int(row["onset"]), int(row["apex"]), int(row["offset"])
    method = keyframes["spotting"]["method"]
    try:
        result = reselect(
            frames,
            numbers,
            onset,
            apex,
            offset,
            float(keyframes["lambda_rise"]),
            float(keyframes["lambda_fall"]),
            keyframes["apex_window"],
        )
        spotted = spot_apex(frames, numbers, onset, offset, method, flow)
    except InputDataError as exc:
        raise InputDataError(exc.reason, **where, frame=exc.frame, path=str(path)) from None
    values = asdict(result)
    mode = keyframes["mode"]
    record = {
        **where,
        "onset_annotated": onset,
        "apex_annotated": apex,
        "offset_annotated": offset,
        "onset_reselected": result.onset,
        "apex_reselected": result.apex,
        "offset_reselected": result.offset,
        "onset_spotted": onset,
        "apex_spotted": spotted.apex,
        "offset_spotted": offset,
        "spotting": method,
        **{key: values[key] for key in COLUMNS if key.endswith(("_diff_annotated", "_diff_reselected"))},
        "mode": mode,
    }
    for key in ("onset", "apex", "offset"):
        record[key] = record[f"{key}_{mode}"]
    return record
