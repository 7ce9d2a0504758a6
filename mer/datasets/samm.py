"""SAMM (Davison et al.): 200 fps, 159 micro-expressions from 29 subjects, greyscale frames.

Layout: `<root>/SAMM/<NNN>/<NNN_s_c>/<NNN>_<N:05d>.jpg` (N absolute, 5-digit zero padding)
or the same tree directly under `<root>`; the coding file `SAMM_Micro_FACS_Codes_v2.xlsx`,
sheet `MICRO_ONLY`, has a 13-line preamble: the header is Excel line 14.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from mer.datasets import sheets, subjects
from mer.datasets.registry import AnnotationVersion, DatasetInfo, register

NAME = "samm"
LAYOUT = sheets.SheetLayout(
    dataset=NAME,
    sheet="MICRO_ONLY",
    header_row=13,
    columns={
        "Subject": "subject",
        "Filename": "clip",
        "Onset Frame": "onset",
        "Apex Frame": "apex",
        "Offset Frame": "offset",
        "Action Units": "action_units",
        "Estimated Emotion": "emotion",
    },
)

INFO = register(
    DatasetInfo(
        name=NAME,
        display_name="SAMM",
        fps=200,
        frame_regex=re.compile(r"\d+_(\d{5,})\.jpg"),
        frame_folders=("SAMM", "."),
        annotation_globs=("SAMM_*Micro_FACS_Codes*.xlsx",),
        annotation_versions=(
            AnnotationVersion("v2", "SAMM_Micro_FACS_Codes_v2.xlsx", note="159 rows, 13-line preamble"),
            AnnotationVersion(
                "synthetic", "SAMM_Micro_FACS_Codes_synthetic.xlsx", synthetic=True, note="written by `mer synth`"
            ),
        ),
        read_annotation=sheets.reader(LAYOUT),
        subject_folder=subjects.numbered("{:03d}"),
        emotions=("anger", "contempt", "happiness", "surprise", "other", "disgust", "fear", "sadness"),
        emotion_aliases=MappingProxyType(
            {"others": "other", "happy": "happiness", "sad": "sadness", "angry": "anger", "surprised": "surprise"}
        ),
        frame_format="{subject}_{n:05d}.jpg",
        schemes=("samm_5class", "samm_megc3"),
        greyscale=True,
        sheet="MICRO_ONLY",
        header_row=13,
        subject_format="'006' (3 digits); 6 and '6' accepted",
        frame_name="<NNN>_<N:05d>.jpg, N absolute, 5-digit padding",
    )
)
