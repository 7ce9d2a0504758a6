"""CAS(ME)^3 (Li et al., TPAMI 2022), parts A and C.

Part A: `<root>/part_A/<spNO.N>/<video a-m>/color/<N>.jpg` (N = JPG index, unpadded), the
ME sheet `cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx`, sheet `label`; several MEs share one
(subject, video), so samples are keyed by occurrence (ordered by onset). The official
`error_info_damaged_image_partA.txt`, if found under the root, lists damaged frames.
Part C: `CAS(ME)3_part_C_ME.xlsx` (sub, count, onset, offset, au, emotion), no apex; frames
`<root>/<sub>/color/<N>.jpg` (layout unverified; MEB has a per-subject material folder).
"""

from __future__ import annotations

import re
from types import MappingProxyType

from mer.datasets import sheets, subjects
from mer.datasets.registry import AnnotationVersion, DatasetInfo, register

FRAME_REGEX = re.compile(r"(\d+)\.jpg")
SYNTHETIC = "written by `mer synth`"

PART_A = sheets.SheetLayout(
    dataset="casme3_a",
    sheet="label",
    header_row=0,
    columns={
        "Subject": "subject",
        "Filename": "clip",
        "Onset": "onset",
        "Apex": "apex",
        "Offset": "offset",
        "AU": "action_units",
        "emotion": "emotion",
    },
)
PART_C = sheets.SheetLayout(
    dataset="casme3_c",
    sheet=0,
    header_row=0,
    columns={
        "sub": "subject",
        "count": "clip",
        "onset": "onset",
        "offset": "offset",
        "au": "action_units",
        "emotion": "emotion",
    },
)

INFO_A = register(
    DatasetInfo(
        name="casme3_a",
        display_name="CAS(ME)^3 part A",
        fps=30,
        frame_regex=FRAME_REGEX,
        frame_folders=("part_A", "part_A_split/part_A", "."),
        annotation_globs=("cas(me)3_part_A_ME_label_JpgIndex*.xlsx",),
        annotation_versions=(
            AnnotationVersion("v2", "cas(me)3_part_A_ME_label_JpgIndex_v2.xlsx", note="860 rows, sheet label"),
            AnnotationVersion("synthetic", "cas(me)3_part_A_ME_label_JpgIndex_synthetic.xlsx", synthetic=True, note=SYNTHETIC),
        ),
        read_annotation=sheets.reader(PART_A),
        subject_folder=subjects.numbered("spNO.{}", prefixes=("spNO.", "spNO", "sp")),
        emotions=("anger", "disgust", "fear", "happy", "sad", "surprise", "others"),
        emotion_aliases=MappingProxyType(
            {"happiness": "happy", "sadness": "sad", "other": "others", "angry": "anger", "surprised": "surprise"}
        ),
        frame_format="{n}.jpg",
        schemes=("casme3_7class", "casme3_4class", "casme3_3class"),
        clip_template="{subject}/{clip}/color",
        occurrences=True,
        sheet="label",
        subject_format="spNO.<N>; spNo.<N> (folders) and <N> accepted",
        frame_name="<N>.jpg, N = JPG index, unpadded",
        exception_files=("error_info_damaged_image_partA.txt",),
    )
)

INFO_C = register(
    DatasetInfo(
        name="casme3_c",
        display_name="CAS(ME)^3 part C",
        fps=30,
        frame_regex=FRAME_REGEX,
        frame_folders=("part_C", "."),
        annotation_globs=("CAS(ME)3_part_C_ME*.xlsx",),
        annotation_versions=(
            AnnotationVersion("release", "CAS(ME)3_part_C_ME.xlsx", note="165 rows, no apex"),
            AnnotationVersion("synthetic", "CAS(ME)3_part_C_ME_synthetic.xlsx", synthetic=True, note=SYNTHETIC),
        ),
        read_annotation=sheets.reader(PART_C),
        subject_folder=subjects.verbatim,
        emotions=("negative", "positive", "surprise", "others"),
        emotion_aliases=MappingProxyType({"other": "others"}),
        frame_format="{n}.jpg",
        schemes=("casme3c_4class",),
        clip_template="{subject}/color",
        has_apex=False,
        subject_format="the sheet's `sub` value, verbatim",
        frame_name="<N>.jpg (unverified)",
    )
)
