"""SMIC-HS layout twin: labels as folders, absolute frame numbers, no annotation file, no apex."""

from __future__ import annotations

from pathlib import Path

from mer.synth.twins.engine import Frames, Size, TwinRow, TwinSpec, write_frames

SHORT = {"negative": "ne", "positive": "po", "surprise": "sur"}
CDE_SUBJECTS = (1, 2, 3, 4, 5, 6, 8, 9, 11, 12, 13, 14, 15, 18, 19, 20)
FULL = Size(subjects=tuple(f"s{n}" for n in CDE_SUBJECTS), counts={"negative": 70, "positive": 51, "surprise": 43})
SMALL = Size(subjects=("s1", "s2", "s3", "s4"), counts={"negative": 4, "positive": 3, "surprise": 3})


def write(size: Size, rows: list[TwinRow], root: Path, frames: Frames) -> None:
    """HS/s<N>/micro/<emotion>/s<N>_<ne|po|sur>_<NN>/image<N>.jpg; the clip name carries the label."""
    counters: dict[tuple[int, str], int] = {}
    for row in rows:
        subject = size.subjects[row.subject]
        number = counters[(row.subject, row.emotion)] = counters.get((row.subject, row.emotion), 0) + 1
        clip = f"{subject}_{SHORT[row.emotion]}_{number:02d}"
        folder = root / "HS" / subject / "micro" / row.emotion / clip
        write_frames(frames, folder, row, range(row.onset, row.offset + 1), "image{}.jpg".format, greyscale=False)


SPEC = TwinSpec(
    dataset="smic_hs",
    sizes={"full": FULL, "small": SMALL},
    anchors=("negative", "positive", "surprise"),
    clip_name=lambda subject, k: f"clip{k:02d}",
    first_frame=lambda k: 559740 + 100 * k,
    write=write,
    has_apex=False,
)
