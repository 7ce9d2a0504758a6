"""4DME (Li et al., TAFFC 2022): 267 micro-expressions as MEB reads them; fps unverified.

Layout (MEB): `<root>/gray_micro[_crop]/<sub>/<fold>/` greyscale frames (file names
unverified: `<N>.jpg` assumed) and `4DME_Labelling_Micro_release v1.xlsx` with sub_ID,
fold_name, Emotion, Onset, Apex, Offset, AUs and one-hot class columns (not used).
"""

from __future__ import annotations

import re
from types import MappingProxyType

from mer.datasets import sheets, subjects
from mer.datasets.registry import AnnotationVersion, DatasetInfo, register

NAME = "4dme"
LAYOUT = sheets.SheetLayout(
    dataset=NAME,
    sheet=0,
    header_row=0,
    columns={
        "sub_ID": "subject",
        "fold_name": "clip",
        "Onset": "onset",
        "Apex": "apex",
        "Offset": "offset",
        "AUs": "action_units",
        "Emotion": "emotion",
    },
)

INFO = register(
    DatasetInfo(
        name=NAME,
        display_name="4DME",
        fps=None,
        frame_regex=re.compile(r"(\d+)\.jpg"),
        frame_folders=("gray_micro_crop", "gray_micro"),
        annotation_globs=("4DME_Labelling_Micro_release*.xlsx",),
        annotation_versions=(
            AnnotationVersion("v1", "4DME_Labelling_Micro_release v1.xlsx", note="267 rows (MEB)"),
            AnnotationVersion(
                "synthetic", "4DME_Labelling_Micro_release synthetic.xlsx", synthetic=True, note="written by `mer synth`"
            ),
        ),
        read_annotation=sheets.reader(LAYOUT),
        subject_folder=subjects.verbatim,
        emotions=("positive", "negative", "surprise", "repression", "others"),
        emotion_aliases=MappingProxyType({"other": "others"}),
        frame_format="{n}.jpg",
        schemes=("4dme_5class",),
        greyscale=True,
        subject_format="the sheet's sub_ID, verbatim",
        frame_name="<N>.jpg (unverified)",
    )
)
