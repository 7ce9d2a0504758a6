"""Layout twins of CAS(ME)^2, MMEW, 4DME and CASME: their sheets and folder layouts.

The references give these corpora's total sample counts only (some unverified), not their
per-class or (4DME, CASME, CAS(ME)^3 part C) subject counts; classes are spread evenly and
subject counts are synthetic choices, documented in docs/synthetic.md.
"""

from __future__ import annotations

from pathlib import Path

from mer.synth.coding import write_workbook
from mer.synth.twins.engine import Frames, Size, TwinRow, TwinSpec, lead, write_frames


def even(total: int, emotions: tuple[str, ...]) -> dict[str, int]:
    """`total` samples spread as evenly as possible over `emotions` (earlier ones get the rest)."""
    return {e: total // len(emotions) + (i < total % len(emotions)) for i, e in enumerate(emotions)}


# --- CAS(ME)^2: headerless sheet with macro and micro rows ---------------------------------
SQ_EMOTIONS = ("negative", "positive", "surprise", "others")
SQ_FILE = "CAS(ME)^2code_final_synthetic.xlsx"
SQ_MACRO = 300  # part B's macro-expressions, listed in the same sheet


def write_sq(size: Size, rows: list[TwinRow], root: Path, frames: Frames) -> None:
    """Headerless rows (subject, video, onset, apex, offset, AU, emotion, type, self-report)
    with SQ_MACRO macro rows first; frames cropped/s<NN>/<video>/img<N>.jpg for the micro rows."""
    total = SQ_MACRO if len(rows) > 50 else 3
    lines: list[tuple[object, ...]] = [
        (1 + k % len(size.subjects), f"macro{k}", 10, 20, 30, "12", "positive", "macro-expression", "happy")
        for k in range(total)
    ]
    for row in rows:
        number = int(size.subjects[row.subject][1:])
        clip_dir = root / "cropped" / f"s{number:02d}" / row.clip
        write_frames(frames, clip_dir, row, lead(row), "img{}.jpg".format, greyscale=False)
        lines.append((number, row.clip, row.onset, row.apex, row.offset, "4", row.emotion, "micro-expression", ""))
    write_workbook(root / SQ_FILE, [("Sheet1", lines)])


SQ_SPEC = TwinSpec(
    dataset="casme_sq",
    sizes={
        "full": Size(tuple(f"s{n:02d}" for n in range(1, 23)), even(57, SQ_EMOTIONS)),
        "small": Size(("s01", "s02", "s03"), even(8, SQ_EMOTIONS)),
    },
    anchors=SQ_EMOTIONS,
    clip_name=lambda subject, k: f"anger1_{k + 1}",
    first_frame=lambda k: 100 + 10 * k,
    write=write_sq,
)

# --- MMEW: sheet plus Micro_Expression/<emotion>/<Filename>/<N>.jpg ------------------------
MMEW_EMOTIONS = ("happiness", "surprise", "disgust", "repression", "fear", "sadness", "anger")
MMEW_FILE = "MMEW_Micro_Exp_synthetic.xlsx"
MMEW_HEADER = ("Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units",
               "Estimated Emotion", "remarks")  # fmt: skip


def write_mmew(size: Size, rows: list[TwinRow], root: Path, frames: Frames) -> None:
    """The MEB sheet and frames in emotion folders."""
    lines: list[tuple[object, ...]] = [MMEW_HEADER]
    for row in rows:
        folder = root / "Micro_Expression" / row.emotion / row.clip
        write_frames(frames, folder, row, lead(row), "{}.jpg".format, greyscale=False)
        lines.append((size.subjects[row.subject], row.clip, row.onset, row.apex, row.offset, "AU12", row.emotion, None))
    write_workbook(root / MMEW_FILE, [("Sheet1", lines)])


MMEW_SPEC = TwinSpec(
    dataset="mmew",
    sizes={
        "full": Size(tuple(f"S{n:02d}" for n in range(1, 37)), even(300, MMEW_EMOTIONS)),
        "small": Size(("S01", "S02", "S03"), even(9, MMEW_EMOTIONS)),
    },
    anchors=MMEW_EMOTIONS,
    clip_name=lambda subject, k: f"{subject}-{k % 7 + 1:02d}-{k + 1:03d}",
    first_frame=lambda k: 1,
    write=write_mmew,
)

# --- 4DME: sheet with one-hot class columns, greyscale frames -------------------------------
FDME_EMOTIONS = ("positive", "negative", "surprise", "repression", "others")
FDME_FILE = "4DME_Labelling_Micro_release synthetic.xlsx"
FDME_HEADER = ("sub_ID", "fold_name", "Emotion", "Onset", "Apex", "Offset", "AUs", "Positive", "Negative",
               "Surprise", "Repression", "Others")  # fmt: skip


def write_fdme(size: Size, rows: list[TwinRow], root: Path, frames: Frames) -> None:
    """The release v1 sheet (as MEB reads it) and gray_micro/<sub>/<fold>/<N>.jpg frames."""
    lines: list[tuple[object, ...]] = [FDME_HEADER]
    for row in rows:
        subject = size.subjects[row.subject]
        write_frames(frames, root / "gray_micro" / subject / row.clip, row, lead(row), "{}.jpg".format, greyscale=True)
        one_hot = tuple(int(row.emotion == emotion) for emotion in FDME_EMOTIONS)
        lines.append((subject, row.clip, row.emotion, row.onset, row.apex, row.offset, "AU4", *one_hot))
    write_workbook(root / FDME_FILE, [("Sheet1", lines)])


FDME_SPEC = TwinSpec(
    dataset="4dme",
    sizes={
        "full": Size(tuple(f"S{n:02d}" for n in range(1, 41)), even(267, FDME_EMOTIONS)),
        "small": Size(("S01", "S02", "S03"), even(8, FDME_EMOTIONS)),
    },
    anchors=FDME_EMOTIONS,
    clip_name=lambda subject, k: f"{subject}_{k + 1:02d}",
    first_frame=lambda k: 1,
    write=write_fdme,
)

# --- CASME: two apex columns, reg_<Filename>-<N>.jpg cropped frames -------------------------
CASME_EMOTIONS = ("amusement", "sadness", "disgust", "surprise", "contempt", "fear", "repression", "tense")
CASME_FILE = "casme_synthetic.xlsx"
CASME_HEADER = ("Subject", "Filename", "OnsetF", "ApexF1", "ApexF2", "OffsetF", "Emotion")


def write_casme(size: Size, rows: list[TwinRow], root: Path, frames: Frames) -> None:
    """MEB's casme.xlsx columns (ApexF2 left empty) and Cropped/sub<NN>/<Filename>/ frames."""
    lines: list[tuple[object, ...]] = [CASME_HEADER]
    for row in rows:
        subject = size.subjects[row.subject]
        folder = root / "Cropped" / subject / row.clip
        write_frames(frames, folder, row, lead(row), f"reg_{row.clip}-{{}}.jpg".format, greyscale=False)
        lines.append((int(subject[3:]), row.clip, row.onset, row.apex, None, row.offset, row.emotion))
    write_workbook(root / CASME_FILE, [("Sheet1", lines)])


CASME_SPEC = TwinSpec(
    dataset="casme",
    sizes={
        "full": Size(tuple(f"sub{n:02d}" for n in range(1, 20)), even(195, CASME_EMOTIONS)),
        "small": Size(("sub01", "sub02", "sub03"), even(10, CASME_EMOTIONS)),
    },
    anchors=CASME_EMOTIONS,
    clip_name=lambda subject, k: f"EP{k + 1:02d}_{k % 5 + 1}",
    first_frame=lambda k: 10,
    write=write_casme,
)
