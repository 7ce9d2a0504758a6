"""CASME (Yan et al., FG 2013): 60 fps, 195 micro-expressions in MEB's `casme.xlsx`.

Layout: `<root>/{Cropped,.}/sub<NN>/<Filename>/reg_<Filename>-<N>.jpg` (Off-TANet's cropped
naming; raw names `<Filename>-<N>.jpg` also match). The sheet has two apex columns, ApexF1
and ApexF2; ApexF1 is the apex used. Header names other than OnsetF, ApexF1, ApexF2,
OffsetF and Emotion are unverified.
"""

from __future__ import annotations

import re
from types import MappingProxyType

from mer.datasets import sheets, subjects
from mer.datasets.registry import AnnotationVersion, DatasetInfo, register

NAME = "casme"
LAYOUT = sheets.SheetLayout(
    dataset=NAME,
    sheet=0,
    header_row=0,
    columns={
        "Subject": "subject",
        "Filename": "clip",
        "OnsetF": "onset",
        "ApexF1": "apex",
        "OffsetF": "offset",
        "Emotion": "emotion",
    },
)

INFO = register(
    DatasetInfo(
        name=NAME,
        display_name="CASME",
        fps=60,
        frame_regex=re.compile(r"(?:reg_)?[^-/]+-(\d+)\.jpg"),
        frame_folders=("Cropped", "."),
        annotation_globs=("casme*.xlsx",),
        annotation_versions=(
            AnnotationVersion("meb", "casme.xlsx", note="MEB's sheet, 195 rows"),
            AnnotationVersion("synthetic", "casme_synthetic.xlsx", synthetic=True, note="written by `mer synth`"),
        ),
        read_annotation=sheets.reader(LAYOUT),
        subject_folder=subjects.numbered("sub{:02d}", prefixes=("sub",)),
        emotions=("amusement", "sadness", "disgust", "surprise", "contempt", "fear", "repression", "tense"),
        emotion_aliases=MappingProxyType({"sad": "sadness"}),
        schemes=("casme_8class",),
        subject_format="sub<NN> folders; the sheet's integer accepted",
        frame_name="reg_<Filename>-<N>.jpg (cropped) or <Filename>-<N>.jpg",
    )
)
