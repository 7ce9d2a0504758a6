"""CAS(ME)^2 (Qu et al., TAFFC 2018): 57 micro-expressions from 22 subjects (unverified).

Layout (SoftNet-SpotME README): `<root>/{cropped,rawpic,selectedpic}/s<NN>/<video>/img<N>.jpg`
and `CAS(ME)^2code_final.xlsx`, which is headerless: subject, video, onset, apex, offset,
AU, emotion, type (macro/micro), self-report (MEAN's names). Only micro rows are samples.
Subject folder naming and the emotion vocabulary are unverified (see docs/datasets.md).
"""

from __future__ import annotations

import re
from types import MappingProxyType

from mer.datasets import sheets, subjects
from mer.datasets.registry import AnnotationVersion, DatasetInfo, register

NAME = "casme_sq"
LAYOUT = sheets.SheetLayout(
    dataset=NAME,
    sheet=0,
    header_row=None,
    columns={0: "subject", 1: "clip", 2: "onset", 3: "apex", 4: "offset", 5: "action_units", 6: "emotion"},
    keep=(7, ("micro-expression", "micro")),
)

INFO = register(
    DatasetInfo(
        name=NAME,
        display_name="CAS(ME)^2",
        fps=30,
        frame_regex=re.compile(r"img(\d+)\.jpg"),
        frame_folders=("cropped", "selectedpic", "rawpic"),
        annotation_globs=("CAS(ME)^2code_final*.xlsx", "CAS(ME)2code_final*.xlsx"),
        annotation_versions=(
            AnnotationVersion("final", "CAS(ME)^2code_final.xlsx", note="headerless; macro and micro rows"),
            AnnotationVersion(
                "synthetic", "CAS(ME)^2code_final_synthetic.xlsx", synthetic=True, note="written by `mer synth`"
            ),
        ),
        read_annotation=sheets.reader(LAYOUT),
        subject_folder=subjects.numbered("s{:02d}", prefixes=("s",)),
        emotions=("negative", "positive", "surprise", "others"),
        emotion_aliases=MappingProxyType({"other": "others"}),
        frame_format="img{n}.jpg",
        schemes=("casme_sq_4class",),
        header_row=None,
        subject_format="s<NN> folders (unverified); the sheet's integer accepted",
        frame_name="img<N>.jpg",
    )
)
