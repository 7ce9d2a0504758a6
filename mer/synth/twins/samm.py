"""SAMM layout twin: v2 counts, 13-line preamble, 5-digit padded greyscale frames, its known errors."""

from __future__ import annotations

from pathlib import Path

from mer.synth.coding import write_workbook
from mer.synth.twins.engine import Frames, Quirk, Size, TwinRow, TwinSpec, lead, write_frames

FILE = "SAMM_Micro_FACS_Codes_synthetic.xlsx"
HEADER = (
    "Subject", "Filename", "Inducement Code", "Onset Frame", "Apex Frame", "Offset Frame", "Duration",
    "Micro", "Action Units", "Estimated Emotion", "Objective Classes", "Notes",
)  # fmt: skip
PREAMBLE = (
    ("SAMM Micro-Movement FACS codes (synthetic twin written by mer synth)",),
    ("Cite: Davison et al., SAMM: A Spontaneous Micro-Facial Movement Dataset",),
    (None,),
    ("9/9/17 - New updates with Emotional and Objective Classes",),
    (None,),
    ("Symbols: / = or, ? = unclear offset",),
    ("AUs: L/R = unilateral, A = asymmetric",),
    *((None,) for _ in range(6)),
)  # 13 lines: the header is Excel line 14
QUIRKS = (
    Quirk("032", "032_3_1", "Anger", 4896, 1930, 4950),  # apex before onset
    Quirk("028", "028_4_1", "Anger", 1100, 1143, 1134),  # apex after offset
    Quirk("032", "032_3_2", "Anger", 5100, 5127, 5135),  # apex moved by MEB
)
ALL = tuple(f"{n:03d}" for n in range(6, 38) if n not in (8, 27, 29))
NOT_5CLASS = ("Disgust", "Fear", "Sadness")
FULL = Size(
    subjects=ALL,
    counts={"Anger": 57, "Other": 26, "Happiness": 26, "Surprise": 15, "Contempt": 12, "Disgust": 9, "Fear": 8,
            "Sadness": 6},  # fmt: skip
    only={"025": ("Other",), "036": NOT_5CLASS, "037": NOT_5CLASS},
    quirks=QUIRKS,
)
SMALL = Size(
    subjects=("006", "025", "028", "032", "036"),
    counts={"Anger": 6, "Other": 3, "Happiness": 3, "Surprise": 2, "Contempt": 2, "Disgust": 2, "Fear": 1,
            "Sadness": 1},  # fmt: skip
    only={"025": ("Other",), "036": NOT_5CLASS},
    quirks=QUIRKS,
)


def write(size: Size, rows: list[TwinRow], root: Path, frames: Frames) -> None:
    """Sheet MICRO_ONLY (preamble, header on line 14) and <NNN>_<N:05d>.jpg greyscale frames."""
    lines: list[tuple[object, ...]] = [*PREAMBLE, HEADER]
    for row in rows:
        subject = size.subjects[row.subject]
        name = f"{subject}_{{:05d}}.jpg".format
        write_frames(frames, root / "SAMM" / subject / row.clip, row, lead(row), name, greyscale=True)
        duration = row.offset - row.onset + 1
        lines.append((subject, row.clip, row.clip.split("_")[1], row.onset, row.apex, row.offset, duration,
                      "Micro - 1/2", "R12", row.emotion, "", None))  # fmt: skip
    write_workbook(root / FILE, [("MICRO_ONLY", lines)])


SPEC = TwinSpec(
    dataset="samm",
    sizes={"full": FULL, "small": SMALL},
    anchors=("Anger", "Contempt", "Happiness", "Surprise"),
    clip_name=lambda subject, k: f"{subject}_{k % 7 + 1}_{k // 7 + 1}",
    first_frame=lambda k: 2000 + 40 * k,
    write=write,
)
