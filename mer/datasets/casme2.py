"""CASME II (Yan et al., PLOS ONE 9(1):e86041, 2014): 200 fps, 26 subjects, 255 coded clips.

Layout: `<root>/CASME2_RAW_selected/subNN/<Filename>/img<N>.jpg` with N the absolute,
unpadded frame number (the cropped release names frames `reg_img<N>.jpg` under `Cropped/`),
and the coding sheet `CASME2-coding-<date>.xlsx` whose first sheet holds one row per clip.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from mer.datasets import cells
from mer.datasets.registry import AnnotationVersion, DatasetInfo, register
from mer.errors import InputDataError

NAME = "casme2"

# Sheet column position -> (header expected there, our column name). Columns 2 and 6 are
# blank in every release; 2019 adds column 9 `Objective Classes`, which is not used.
SHEET_COLUMNS = {
    0: ("Subject", "subject"),
    1: ("Filename", "clip"),
    3: ("OnsetFrame", "onset"),
    4: ("ApexFrame", "apex"),
    5: ("OffsetFrame", "offset"),
    7: ("Action Units", "action_units"),
    8: ("Estimated Emotion", "emotion"),
}


def read_annotation(path: Path) -> pd.DataFrame:
    """The coding sheet's first sheet as `ANNOTATION_COLUMNS`, after checking its headers.

    Blank spreadsheet lines are dropped; `row` is the line number Excel shows (header = 1).
    """
    table = pd.read_excel(path, sheet_name=0, usecols=sorted(SHEET_COLUMNS), engine="openpyxl")
    found = [str(name).strip().lower() for name in table.columns]
    expected = [header.lower() for header, _ in SHEET_COLUMNS.values()]
    if found != expected:
        raise InputDataError(
            f"unexpected CASME II coding sheet headers in columns {sorted(SHEET_COLUMNS)}: "
            f"found {list(table.columns)}, expected {[h for h, _ in SHEET_COLUMNS.values()]}",
            dataset=NAME,
            path=str(path),
        )
    table.columns = [column for _, column in SHEET_COLUMNS.values()]
    table.insert(0, "row", table.index + 2)
    return table.dropna(how="all", subset=table.columns[1:]).reset_index(drop=True)


def subject_folder(raw: object) -> str:
    """Subject id 1 -> folder `sub01`."""
    number = cells.as_int(raw)
    if number is None or number == 0:
        raise ValueError(f"subject id {cells.describe(raw)} is not a positive whole number")
    return f"sub{number:02d}"


INFO = register(
    DatasetInfo(
        name=NAME,
        display_name="CASME II",
        fps=200,
        frame_regex=re.compile(r"(?:reg_)?img(\d+)\.jpg"),
        frame_folders=("CASME2_RAW_selected", "CASME2_RAW", "Cropped", "."),
        annotation_globs=("CASME2-coding-*.xlsx",),
        annotation_versions=(
            AnnotationVersion("20140508", "CASME2-coding-20140508.xlsx", note="release coding, 255 rows"),
            AnnotationVersion(
                "20190701",
                "CASME2-coding-20190701.xlsx",
                note="adds Objective Classes; 3 sub24 clips sadness -> surprise; 57 AU strings changed",
            ),
            AnnotationVersion(
                "synthetic", "CASME2-coding-synthetic.xlsx", synthetic=True, note="written by `mer synth`"
            ),
        ),
        read_annotation=read_annotation,
        subject_folder=subject_folder,
        emotions=("happiness", "disgust", "repression", "surprise", "others", "sadness", "fear"),
        emotion_aliases=MappingProxyType(
            {
                "happy": "happiness",
                "disgusted": "disgust",
                "repressed": "repression",
                "surprised": "surprise",
                "other": "others",
                "sad": "sadness",
                "fearful": "fear",
            }
        ),
        frame_format="img{n}.jpg",
        schemes=("casme2_5class", "casme2_megc3"),
    )
)
