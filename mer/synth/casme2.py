"""The CASME II preset: labels, AU combinations, names and on-disk layout of the real corpus.

Layout written under the corpus root (see docs/synthetic.md):
  CASME2_RAW_selected/subNN/<Filename>/img{N}.jpg   N absolute, unpadded
  CASME2-coding-synthetic.xlsx                      the 2014 coding file's first-sheet columns
  ground_truth/subNN/<Filename>.json                exact timing and motion of each clip
  ground_truth/identities.json                      how far apart the subjects' rest faces are
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mer.atomic import write_json
from mer.synth.appearance import draw_appearance, render_base
from mer.synth.clip import clip_ground_truth, write_frames
from mer.synth.coding import write_coding
from mer.synth.identity import identity_distances
from mer.synth.plan import CorpusStyle, plan_corpus, subject_names
from mer.synth.seeds import rng

DATASET = "casme2"
RAW_DIR = "CASME2_RAW_selected"
CODING_FILE = "CASME2-coding-synthetic.xlsx"
GROUND_TRUTH_DIR = "ground_truth"
IDENTITIES = "identities.json"

STYLE = CorpusStyle(
    # Emotion counts of the 2014 coding file (255 rows).
    proportions={
        "others": 99,
        "disgust": 63,
        "happiness": 32,
        "repression": 27,
        "surprise": 25,
        "sadness": 7,
        "fear": 2,
    },
    required=("others", "disgust", "happiness", "repression", "surprise"),
    combos={
        "happiness": ("6+12", "6+12", "12", "6+7+12"),
        "surprise": ("1+2", "1+2", "1+2+5", "2"),
        "disgust": ("4+9", "9", "4+10", "4+7+9", "10", "9+10"),
        "repression": ("14", "15", "17", "15+17", "14+24", "17+24", "24"),
        "others": ("4", "4", "4+7", "1+4", "7", "1", "5"),
        "sadness": ("1+4+15", "1+15"),
        "fear": ("1+2+4+20", "4+20"),
    },
    subject_name="sub{:02d}",
    clip_names=tuple(
        f"EP{episode:02d}_{take:02d}{suffix}"
        for episode in range(1, 20)
        for take in range(1, 13)
        for suffix in ("", "f")
    ),
    first_frame=(20, 300),
)


def subjects(synth: dict[str, Any]) -> list[str]:
    """Subject folder names the preset creates (sub01, sub02, …)."""
    return subject_names(synth, STYLE)


def write(synth: dict[str, Any], root: Path) -> None:
    """Render the whole corpus into the empty folder `root`."""
    plans = plan_corpus(synth, STYLE)
    rows = []
    faces = {}
    for index, subject in enumerate(subjects(synth)):
        subject_rng = rng(synth["seed"], "subject", index)
        appearance = draw_appearance(subject_rng, index, synth["frame_size"], synth["face_size"])
        base = render_base(appearance, synth["frame_size"])
        faces[subject] = (base.image, base.landmarks)
        for plan in (p for p in plans if p.subject_index == index):
            gt = clip_ground_truth(DATASET, plan, appearance, base, synth)
            write_frames(gt, plan, base, root / RAW_DIR / subject / plan.clip, synth)
            write_json(root / GROUND_TRUTH_DIR / subject / f"{plan.clip}.json", gt)
            rows.append(
                (index + 1, plan.clip, None, plan.onset, plan.apex_annotated, plan.offset, None)
                + (plan.action_units, plan.emotion)
            )
    write_coding(root / CODING_FILE, rows)
    write_json(root / GROUND_TRUTH_DIR / IDENTITIES, identity_distances(faces))
