"""The macro-expression preset (`mer synth -d macro`): rendered faces showing large, long expressions.

MA2MI pre-trains on macro-expression videos (DFEW in the paper); this preset stands in for
them when no licensed corpus is at hand. It reuses the CASME II preset's faces, action units
and renderer (`mer.synth.appearance`, `actions`, `clip`) with the timing and amplitude of
params `pretrain.synth` (typically 30 fps, a few hundred milliseconds to the apex and several
pixels of peak displacement, i.e. macro-expressions); the photometric settings (frame and face
size, noise, flicker, drift, JPEG quality, seed) come from params `synth` unless
`pretrain.synth` overrides them.

Layout under the corpus root (data/pretrain/macro by default):
  <subject>/<clip>/img{N}.jpg          N = 1 … T, unpadded; one folder per video
  ground_truth/<subject>/<clip>.json   exact timing and motion of each clip (as CASME II's)

Subjects draw from the corpus seed's streams at indices MACRO_INDEX + s, so a macro subject
never repeats a face of a micro-expression corpus made with the same seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mer.atomic import write_json
from mer.errors import ConfigError
from mer.synth.appearance import draw_appearance, render_base
from mer.synth.clip import clip_ground_truth, write_frames
from mer.synth.plan import ClipPlan
from mer.synth.seeds import rng

DATASET = "macro"
GROUND_TRUTH_DIR = "ground_truth"
MACRO_INDEX = 1000  # micro corpora have at most 99 subjects
INHERITED = ("seed", "frame_size", "face_size", "noise_sd", "flicker", "drift_px", "jpeg_quality")
# Prototypical AU combinations of the basic emotions (EMFACS-style), restricted to the AUs
# `mer.synth.actions` models; repeats in a tuple act as weights.
EXPRESSIONS: dict[str, tuple[str, ...]] = {
    "happiness": ("6+12", "6+12", "6+7+12", "12"),
    "surprise": ("1+2+5", "1+2+5", "1+2"),
    "disgust": ("9+10", "4+9+10", "10+17"),
    "sadness": ("1+4+15", "1+15+17", "1+4+15+17"),
    "anger": ("4+7+24", "4+5+7+24", "4+7+17"),
    "fear": ("1+2+4+5+20", "1+2+4+20"),
}


def settings(params: dict[str, Any]) -> dict[str, Any]:
    """The preset's settings: params `pretrain.synth` over the photometric keys of params `synth`."""
    own = params.get("pretrain", {}).get("synth")
    if own is None:
        raise ConfigError("the macro preset reads params `pretrain.synth` (docs/method-ma2mi.md shows one)")
    return {**{key: params["synth"][key] for key in INHERITED}, **own}


def subjects(macro: dict[str, Any]) -> list[str]:
    """Subject folder names (s01, s02, …)."""
    return [f"s{i:02d}" for i in range(1, macro["subjects"] + 1)]


def _between(generator: Any, bounds: list[int]) -> int:
    return int(generator.integers(bounds[0], bounds[1] + 1))


def plan_clips(macro: dict[str, Any]) -> list[ClipPlan]:
    """Every clip: emotion, AUs, amplitude and timing from the clip's own seeded stream."""
    names = list(EXPRESSIONS)
    plans = []
    for s, subject in enumerate(subjects(macro)):
        for c in range(macro["clips_per_subject"]):
            generator = rng(macro["seed"], "clip", MACRO_INDEX + s, c)
            emotion = names[int(generator.integers(len(names)))]
            combos = EXPRESSIONS[emotion]
            action_units = combos[int(generator.integers(len(combos)))]
            amplitude = float(generator.uniform(*macro["amplitude_px"]))
            onset = 1 + macro["lead_frames"]
            apex = onset + _between(generator, macro["onset_to_apex_frames"])
            offset = apex + _between(generator, macro["apex_to_offset_frames"])
            plans.append(
                ClipPlan(
                    subject_index=MACRO_INDEX + s,
                    clip_index=c,
                    subject=subject,
                    clip=f"{c + 1:02d}_{emotion}",
                    emotion=emotion,
                    action_units=action_units,
                    first=1,
                    onset=onset,
                    apex=apex,
                    offset=offset,
                    last=offset + macro["lead_frames"],
                    apex_annotated=apex,
                    amplitude_224=amplitude,
                )
            )
    return plans


def write(macro: dict[str, Any], root: Path) -> None:
    """Render every clip's frames and ground truth into the empty folder `root`."""
    plans = plan_clips(macro)
    for s, subject in enumerate(subjects(macro)):
        index = MACRO_INDEX + s
        generator = rng(macro["seed"], "subject", index)
        appearance = draw_appearance(generator, index, macro["frame_size"], macro["face_size"])
        base = render_base(appearance, macro["frame_size"])
        for plan in (p for p in plans if p.subject == subject):
            gt = clip_ground_truth(DATASET, plan, appearance, base, macro)
            write_frames(gt, plan, base, root / subject / plan.clip, macro)
            write_json(root / GROUND_TRUTH_DIR / subject / f"{plan.clip}.json", gt)
