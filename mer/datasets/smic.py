"""SMIC-HS (Li et al., FG 2013): 164 micro-expression clips from 16 subjects; no apex.

Layout (MEB's template): `<root>/HS/s<N>/micro/<negative|positive|surprise>/s<N>_<ne|po|sur>_<NN>/
image<N>.jpg`, N the absolute frame number. There is no annotation sheet for these clips:
labels are the emotion folders and onset/offset are the first and last frame of a clip
folder. The `HS` folder plays the part of the annotation file.
"""

from __future__ import annotations

import re
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from mer.datasets import subjects
from mer.datasets.frames import list_frames
from mer.datasets.registry import ANNOTATION_COLUMNS, AnnotationVersion, DatasetInfo, register

NAME = "smic_hs"
FRAME_REGEX = re.compile(r"image(\d+)\.jpg")


def read_annotation(folder: Path) -> pd.DataFrame:
    """One row per clip folder `<subject>/micro/<emotion>/<clip>`, sorted by path."""
    rows = []
    for clip_dir in sorted(folder.glob("*/micro/*/*")):
        if not clip_dir.is_dir():
            continue
        numbers = [number for number, _ in list_frames(clip_dir, FRAME_REGEX)]
        subject, _, emotion, clip = clip_dir.relative_to(folder).parts
        first, last = (min(numbers), max(numbers)) if numbers else (None, None)
        rows.append((None, subject, clip, first, None, last, None, emotion))
    return pd.DataFrame(rows, columns=list(ANNOTATION_COLUMNS), dtype=object)


INFO = register(
    DatasetInfo(
        name=NAME,
        display_name="SMIC-HS",
        fps=100,
        frame_regex=FRAME_REGEX,
        frame_folders=("HS",),
        annotation_globs=("HS",),
        annotation_versions=(AnnotationVersion("folders", "HS", note="labels from the emotion folders"),),
        read_annotation=read_annotation,
        subject_folder=subjects.numbered("s{}", prefixes=("s",)),
        emotions=("negative", "positive", "surprise"),
        emotion_aliases=MappingProxyType({"ne": "negative", "po": "positive", "sur": "surprise"}),
        frame_format="image{n}.jpg",
        schemes=("smic_3class",),
        clip_template="{subject}/micro/{emotion}/{clip}",
        has_apex=False,
        annotation_is_folder=True,
        subject_format="s<N> folders (s1); s01 and 1 accepted",
        frame_name="image<N>.jpg, N absolute",
    )
)
