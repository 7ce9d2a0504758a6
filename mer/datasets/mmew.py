"""MMEW (Ben et al., TPAMI 2021): 300 micro-expressions from 36 subjects (unverified).

Layout as MEB and IMER read it: `<root>/Micro_Expression/<emotion>/<Filename>/<N>.jpg`
with the sheet `MMEW_Micro_Exp.xlsx` (Subject, Filename, OnsetFrame, ApexFrame, OffsetFrame,
Action Units, Estimated Emotion, remarks). The release's own tree `<subject>/<emotion>/...`
differs; point `root` at a copy in the loader layout.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from mer.datasets import sheets, subjects
from mer.datasets.registry import AnnotationVersion, DatasetInfo, register

NAME = "mmew"
LAYOUT = sheets.SheetLayout(
    dataset=NAME,
    sheet=0,
    header_row=0,
    columns={
        "Subject": "subject",
        "Filename": "clip",
        "OnsetFrame": "onset",
        "ApexFrame": "apex",
        "OffsetFrame": "offset",
        "Action Units": "action_units",
        "Estimated Emotion": "emotion",
    },
)

INFO = register(
    DatasetInfo(
        name=NAME,
        display_name="MMEW",
        fps=90,
        frame_regex=re.compile(r"(\d+)\.jpg"),
        frame_folders=("Micro_Expression", "."),
        annotation_globs=("MMEW_Micro_Exp*.xlsx",),
        annotation_versions=(
            AnnotationVersion("meb", "MMEW_Micro_Exp.xlsx", note="the sheet MEB reads"),
            AnnotationVersion("synthetic", "MMEW_Micro_Exp_synthetic.xlsx", synthetic=True, note="written by `mer synth`"),
        ),
        read_annotation=sheets.reader(LAYOUT),
        subject_folder=subjects.numbered("S{:02d}", prefixes=("S",)),
        emotions=("happiness", "surprise", "disgust", "repression", "fear", "sadness", "anger", "others"),
        emotion_aliases=MappingProxyType({"happy": "happiness", "sad": "sadness", "other": "others"}),
        frame_format="{n}.jpg",
        schemes=("mmew_7class",),
        clip_template="{emotion}/{clip}",
        subject_format="S<NN> (S03); 3 accepted",
        frame_name="<N>.jpg, unpadded",
    )
)
