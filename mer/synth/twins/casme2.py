"""CASME II layout twin: 2014 coding-file counts, blank columns, apex "/" and apex = onset."""

from __future__ import annotations

from pathlib import Path

from mer.synth.coding import write_coding
from mer.synth.twins.engine import Frames, Quirk, Size, TwinRow, TwinSpec, lead, write_frames

RAW_DIR = "CASME2_RAW_selected"
CODING_FILE = "CASME2-coding-synthetic.xlsx"
NOT_MEGC = ("others", "fear", "sadness")
QUIRKS = (
    Quirk("sub04", "EP12_01f", "disgust", 280, "/", 300),  # apex "/" (2014 and 2019 files)
    Quirk("sub05", "EP09_05f", "disgust", 69, 69, 75),  # apex == onset
)
FULL = Size(
    subjects=tuple(f"sub{n:02d}" for n in range(1, 27)),
    counts={"others": 99, "disgust": 63, "happiness": 32, "repression": 27, "surprise": 25, "sadness": 7, "fear": 2},
    only={"sub10": NOT_MEGC, "sub18": NOT_MEGC},  # not in the MEGC composite
    quirks=QUIRKS,
)
SMALL = Size(
    subjects=tuple(f"sub{n:02d}" for n in range(1, 7)),
    counts={"others": 6, "disgust": 6, "happiness": 3, "repression": 3, "surprise": 3, "sadness": 1, "fear": 1},
    only={"sub06": NOT_MEGC},
    quirks=QUIRKS,
)


def clip_name(subject: str, k: int) -> str:
    """EPxx_yy[f] names from a pool shared by all subjects, so names repeat across subjects."""
    return f"EP{k % 19 + 1:02d}_{k // 19 + 1:02d}" + ("f" if k % 2 else "")


def write(size: Size, rows: list[TwinRow], root: Path, frames: Frames) -> None:
    """The coding sheet (2014 columns) and img{N}.jpg frames under CASME2_RAW_selected."""
    lines = []
    for row in rows:
        subject = size.subjects[row.subject]
        write_frames(frames, root / RAW_DIR / subject / row.clip, row, lead(row), "img{}.jpg".format, greyscale=False)
        lines.append((int(subject[3:]), row.clip, None, row.onset, row.apex, row.offset, None, "4", row.emotion))
    write_coding(root / CODING_FILE, lines)


SPEC = TwinSpec(
    dataset="casme2",
    sizes={"full": FULL, "small": SMALL},
    anchors=("happiness", "disgust", "repression", "surprise"),
    clip_name=clip_name,
    first_frame=lambda k: 20 + 3 * k,
    write=write,
)
