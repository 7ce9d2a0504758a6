"""CAS(ME)^3 layout twins: part A (JpgIndex sheet, spNO.x/<video>/color/N.jpg, several MEs
per video, "Others", an spNo folder, a damaged-image list) and part C (no apex)."""

from __future__ import annotations

from pathlib import Path

from mer.synth.coding import write_workbook
from mer.synth.twins.engine import Frames, Size, TwinRow, TwinSpec, lead, write_frames

VIDEOS = "abcdefghijklm"
A_FILE = "cas(me)3_part_A_ME_label_JpgIndex_synthetic.xlsx"
A_HEADER = ("Subject", "Filename", "Onset", "Apex", "Offset", "AU", "Objective class", "emotion")
DAMAGED = "error_info_damaged_image_partA.txt"
# The 102 ids of spNO.1-17, 39-42, 77, 138-217 less 8 (which 8 the release lacks is not
# published; these are a synthetic choice), giving the 94 subjects of the ME sheet.
GAPS = (140, 150, 160, 170, 180, 190, 200, 210)
A_SUBJECTS = tuple(
    f"spNO.{n}" for n in (*range(1, 18), *range(39, 43), 77, *range(138, 218)) if n not in GAPS
)
OTHERS_ONLY = ("others", "Others")
A_FULL = Size(
    subjects=A_SUBJECTS,
    counts={"disgust": 250, "surprise": 187, "others": 158, "Others": 3, "fear": 86, "anger": 64, "sad": 57,
            "happy": 55},  # fmt: skip
    only={subject: OTHERS_ONLY for subject in A_SUBJECTS[::16]},  # 6 subjects without a 3-class sample
)
A_SMALL = Size(
    subjects=("spNO.1", "spNO.2", "spNO.3", "spNO.149"),
    counts={"disgust": 5, "surprise": 4, "others": 3, "Others": 1, "fear": 2, "anger": 2, "sad": 2, "happy": 2},
    only={"spNO.3": OTHERS_ONLY},
)
LOWER_CASE_FOLDER = "spNO.2"  # written as spNo.2, as some copies are


def write_a(size: Size, rows: list[TwinRow], root: Path, frames: Frames) -> None:
    """Sheet `label`, frames part_A/<subject>/<video>/color/<N>.jpg, one damaged-image line."""
    lines: list[tuple[object, ...]] = [A_HEADER]
    for row in rows:
        subject = size.subjects[row.subject]
        folder = subject.replace("NO", "No") if subject == LOWER_CASE_FOLDER else subject
        clip_dir = root / "part_A" / folder / row.clip / "color"
        write_frames(frames, clip_dir, row, lead(row), "{}.jpg".format, greyscale=False)
        lines.append((subject, row.clip, row.onset, row.apex, row.offset, "AU4", "I", row.emotion))
    write_workbook(root / A_FILE, [("label", lines)])
    first = rows[0]
    (root / DAMAGED).write_text(
        f"{size.subjects[first.subject]} {first.clip} 1.jpg the image cannot open\n", encoding="utf-8"
    )


def video(subject: str, k: int) -> str:
    """The k-th ME of a subject is in video a, a, b, b, ... m (an upper-case J for spNO.3, as in the release)."""
    letter = VIDEOS[k // 2 % len(VIDEOS)]
    return "J" if letter == "j" and subject == "spNO.3" else letter


A_SPEC = TwinSpec(
    dataset="casme3_a",
    sizes={"full": A_FULL, "small": A_SMALL},
    anchors=("disgust", "surprise", "fear", "anger", "sad", "happy"),
    clip_name=video,
    first_frame=lambda k: 10 + 10 * k,
    write=write_a,
)

C_FILE = "CAS(ME)3_part_C_ME_synthetic.xlsx"
C_HEADER = ("sub", "count", "onset", "offset", "au", "emotion")
# Part C has 31 subjects; how many have MEs in the ME sheet is not published (synthetic choice).
C_FULL = Size(
    subjects=tuple(str(n) for n in range(1, 32)),
    counts={"negative": 99, "surprise": 30, "others": 20, "positive": 16},
)
C_SMALL = Size(subjects=("1", "2", "3"), counts={"negative": 3, "surprise": 2, "others": 2, "positive": 2})


def write_c(size: Size, rows: list[TwinRow], root: Path, frames: Frames) -> None:
    """The part C ME sheet (no apex column) and frames part_C/<sub>/color/<N>.jpg."""
    lines: list[tuple[object, ...]] = [C_HEADER]
    for row in rows:
        subject = size.subjects[row.subject]
        write_frames(frames, root / "part_C" / subject / "color", row, lead(row), "{}.jpg".format, greyscale=False)
        lines.append((subject, row.clip, row.onset, row.offset, "4,7", row.emotion))
    write_workbook(root / C_FILE, [("Sheet1", lines)])


C_SPEC = TwinSpec(
    dataset="casme3_c",
    sizes={"full": C_FULL, "small": C_SMALL},
    anchors=("negative", "surprise", "others", "positive"),
    clip_name=lambda subject, k: str(k + 1),
    first_frame=lambda k: 100 + 10 * k,
    write=write_c,
    has_apex=False,
)
