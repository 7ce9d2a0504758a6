"""Per-dataset QC report: crop contact sheet, detection fallbacks, keyframe moves, motion curves.

Reads what the pipeline wrote (faces/<subject>.h5, keyframes.csv) and writes qc.md plus
three PNGs into one folder. The motion curves are always the fast frame-difference curve
of `mer.preprocess.spotting` over the annotated onset … offset (like Fig. 2 of the GAMDSS
paper), with the annotated, reselected and spotted apexes marked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from mer import atomic
from mer.paths import QC_FIGURES as FIGURES
from mer.errors import InputDataError
from mer.preprocess.spotting import motion_curve
from mer.qc import figures

def build_qc(dataset: str, keyframes: pd.DataFrame, faces_dir: Path, out_dir: Path) -> str:
    """Write qc.md and `FIGURES` for the keyframes.csv rows of `dataset`; return the Markdown."""
    out_dir = Path(out_dir)
    records, thumbnails, labels, curves = [], [], [], []
    for subject, rows in keyframes.groupby("subject", sort=False):
        path = Path(faces_dir) / f"{subject}.h5"
        if not path.is_file():
            raise InputDataError("face crops file not found", dataset=dataset, subject=str(subject), path=str(path))
        with h5py.File(path, "r") as faces:
            for row in rows.itertuples(index=False):
                where = {"dataset": dataset, "subject": str(subject), "clip": str(row.clip)}
                if where["clip"] not in faces:
                    raise InputDataError("clip is missing from the face crops file", **where, path=str(path))
                group = faces[where["clip"]]
                frames, numbers = group["frames"][()], group["frame_numbers"][()]
                attrs = dict(group.attrs)
                records.append({**where, "fallback": str(attrs["fallback"]), "probability": float(attrs["probability"]),
                                "reference_frame": int(attrs["reference_frame"])})
                inside = (numbers >= row.onset_annotated) & (numbers <= row.offset_annotated)
                apex_index = int(np.flatnonzero(numbers == row.apex_annotated)[0])
                thumbnails.append(frames[apex_index])
                note = "" if records[-1]["fallback"] == "none" else f" [{records[-1]['fallback']}]"
                labels.append(f"{subject}/{row.clip}{note}")
                curve = motion_curve("frame_difference", frames[inside], numbers[inside])
                apexes = {"annotated": row.apex_annotated, "reselected": row.apex_reselected, "spotted": row.apex_spotted}
                curves.append((f"{subject}/{row.clip}", numbers[inside], curve, apexes))
    detections = pd.DataFrame(records)
    figures.contact_sheet(thumbnails, labels, out_dir / FIGURES[0])
    figures.apex_shifts(keyframes, out_dir / FIGURES[1])
    figures.motion_curves(curves, out_dir / FIGURES[2])
    text = _markdown(dataset, keyframes, detections)
    atomic.write_text(out_dir / "qc.md", text)
    return text


def _markdown(dataset: str, table: pd.DataFrame, detections: pd.DataFrame) -> str:
    """The report text: counts, the fallback list and the keyframe-shift summary."""
    fallbacks = detections[detections["fallback"] != "none"]
    lines = [
        f"# Preprocessing QC: {dataset}",
        "",
        f"{len(table)} samples, {table['subject'].nunique()} subjects; keyframes.mode = `{table['mode'].iloc[0]}`, "
        f"spotting = `{table['spotting'].iloc[0]}`.",
        "",
        "## Face detection",
        "",
        "One MTCNN box per clip. Clips without a face on the reference frame or any fallback stop the crop "
        "stage with an error naming the frame, so every clip below was cropped.",
        "",
        f"- fallbacks used: {len(fallbacks)} of {len(detections)} clips",
        f"- lowest detection probability: {detections['probability'].min():.4f} "
        f"({_name(detections.loc[detections['probability'].idxmin()])})",
        "",
    ]
    if len(fallbacks):
        lines += ["| subject | clip | fallback | reference frame | probability |", "|---|---|---|---|---|"]
        lines += [
            f"| {r.subject} | {r.clip} | {r.fallback} | {r.reference_frame} | {r.probability:.4f} |"
            for r in fallbacks.itertuples(index=False)
        ]
        lines.append("")
    lines += [
        "![crops at the annotated apex; fallbacks in red](contact_sheet.png)",
        "",
        "## Keyframe moves",
        "",
        "| shift (frames) | moved | mean | mean abs | min | max |",
        "|---|---|---|---|---|---|",
    ]
    for label, new, old in (
        ("onset, reselected − annotated", "onset_reselected", "onset_annotated"),
        ("apex, reselected − annotated", "apex_reselected", "apex_annotated"),
        ("offset, reselected − annotated", "offset_reselected", "offset_annotated"),
        ("apex, spotted − annotated", "apex_spotted", "apex_annotated"),
    ):
        shift = table[new] - table[old]
        lines.append(
            f"| {label} | {int((shift != 0).sum())} | {shift.mean():.2f} | {shift.abs().mean():.2f} | "
            f"{int(shift.min())} | {int(shift.max())} |"
        )
    lines += [
        "",
        "![distribution of keyframe shifts](apex_shifts.png)",
        "",
        "## Motion curves",
        "",
        "Per sample, the frame-difference motion curve over the annotated onset … offset (distance from the "
        "onset–offset blend, gain-normalised; docs/methods.md), with the annotated (blue, solid), reselected "
        "(red, dashed) and spotted (green, dotted) apex.",
        "",
        "![motion curves](motion_curves.png)",
        "",
    ]
    return "\n".join(lines)


def _name(row: Any) -> str:
    return f"{row['subject']}/{row['clip']}"
