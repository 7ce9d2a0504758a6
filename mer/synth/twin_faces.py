"""Rendered faces for layout twins (params `synth.frames: rendered`, docs/synthetic.md).

A layout twin normally repeats one placeholder JPEG; with `rendered` every frame it writes is
a face made by the CASME II renderer's pieces instead: a subject appearance per twin subject
(`appearance.py`), an action-unit combination per sample drawn from its emotion's list
(`actions.py`), and an intensity that rises from onset to the apex and falls to offset
(`field.intensity`), so apex frames differ by emotion and face detectors find a face.
Only the frames the twin writes are rendered; the layout, names and annotation are unchanged.
Every random choice comes from `seeds.rng(seed, "twin", corpus, purpose, subject, onset)`,
so the same seed gives the same bytes whatever order samples are written in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from mer.datasets import registry, vocabulary
from mer.errors import ConfigError
from mer.synth.actions import au_bumps, parse_action_units
from mer.synth.appearance import Base, draw_appearance, render_base
from mer.synth.casme2 import STYLE
from mer.synth.clip import REFERENCE_FACE_PX
from mer.synth.field import bump_field, intensity
from mer.synth.render import encode_jpeg, render_frame
from mer.synth.seeds import rng
from mer.synth.twins.engine import TwinRow

FRAME_MODES = ("placeholder", "rendered")
SUBJECT, MOTION = 1, 2  # purpose indices within the "twin" stream

# Action-unit combinations per expression: CASME II's lists (the synthetic preset's), plus the
# emotions it lacks. Anger: brow lowerer, lid tightener/raiser, lip pressor; contempt: dimpler with
# lip-corner pull or upper-lip raise (one-sided in reality; the bump model is bilateral); the
# coarse classes of SMIC-style corpora borrow their members' combinations.
ACTIONS: dict[str, tuple[str, ...]] = {
    **{emotion: combos for emotion, combos in STYLE.combos.items() if emotion != "sadness"},
    "sad": STYLE.combos["sadness"],
    "anger": ("4+7+24", "4+24", "4+5+7", "4+5+24"),
    "contempt": ("12+14", "10+14", "14"),
    "positive": ("6+12", "12", "6+7+12"),
    "negative": ("4+9", "4+7+24", "1+4+15", "4+20"),
    "tense": ("4+7", "7+24", "4+14"),
}
# Emotions of corpora outside the cross-dataset vocabulary whose name is not an ACTIONS key.
ALIASES = {"amusement": "happiness", "sadness": "sad"}


def action_key(dataset: str, raw: str) -> str:
    """The ACTIONS key of a corpus's raw emotion label: its global emotion (`mer.datasets.vocabulary`)
    where the corpus is in the cross-dataset vocabulary, else its normalised name or ALIASES."""
    emotion = registry.get(dataset).normalise_emotion(raw)
    if emotion is None:
        raise ConfigError(f"{dataset}: twin emotion {raw!r} is not one of the corpus's emotions")
    try:
        key = vocabulary.global_emotion(dataset, emotion)
    except ConfigError:
        key = ALIASES.get(emotion, emotion)
    if key not in ACTIONS:
        raise ConfigError(f"{dataset}: no action units for emotion {emotion!r} (have {', '.join(sorted(ACTIONS))})")
    return key


def true_apex(row: TwinRow) -> int:
    """The apex the pixels show: the annotated one when strictly inside (onset, offset), else the
    midpoint (quirk rows with apex "/", apex outside the span, or no apex column)."""
    if isinstance(row.apex, int) and row.onset < row.apex < row.offset:
        return row.apex
    return (row.onset + row.offset + 1) // 2


class TwinFaces:
    """`Frames` source (mer.synth.twins.engine) rendering one corpus's twin samples as faces.

    `synth` is the params `synth` section: seed, frame_size, face_size, amplitude_px,
    noise_sd, flicker and jpeg_quality are read. Subjects are rendered once and cached.
    """

    def __init__(self, dataset: str, synth: Mapping[str, Any]) -> None:
        self.dataset = dataset
        self.synth = synth
        self.corpus = sum(map(ord, dataset))
        self._subjects: dict[int, tuple[float, Base]] = {}
        width, height = synth["frame_size"]
        self._grid = np.mgrid[0:height, 0:width].astype(np.float64)[::-1]

    def _subject(self, index: int) -> tuple[float, Base]:
        """Face height and rest-pose base of twin subject `index`."""
        if index not in self._subjects:
            generator = rng(self.synth["seed"], "twin", self.corpus, SUBJECT, index)
            appearance = draw_appearance(generator, index, self.synth["frame_size"], self.synth["face_size"])
            self._subjects[index] = (appearance["face_height_px"], render_base(appearance, self.synth["frame_size"]))
        return self._subjects[index]

    def __call__(self, row: TwinRow, numbers: Sequence[int], greyscale: bool) -> list[bytes]:
        """JPEG bytes of frames `numbers` of sample `row`: the apex field scaled by the intensity."""
        face_height, base = self._subject(row.subject)
        generator = rng(self.synth["seed"], "twin", self.corpus, MOTION, row.subject, row.onset)
        combos = ACTIONS[action_key(self.dataset, row.emotion)]
        units = parse_action_units(combos[int(generator.integers(len(combos)))])
        bumps = au_bumps(units, base.landmarks, generator)
        field = bump_field(bumps, *self._grid)
        amplitude = generator.uniform(*self.synth["amplitude_px"]) * face_height / REFERENCE_FACE_PX
        field *= amplitude / float(np.max(np.hypot(*field)))
        apex = true_apex(row)
        encoded = []
        for number in numbers:
            noise = generator.standard_normal(base.image.shape, dtype=np.float32) * np.float32(self.synth["noise_sd"])
            gain = 1.0 + self.synth["flicker"] * float(generator.standard_normal())
            rgb = render_frame(base.image, intensity(number, row.onset, apex, row.offset) * field, gain, noise)
            encode = _grey_jpeg if greyscale else encode_jpeg
            encoded.append(encode(rgb, self.synth["jpeg_quality"]))
        return encoded


def _grey_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """Single-channel JPEG bytes of an RGB uint8 image (greyscale corpora: SAMM, 4DME)."""
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a greyscale JPEG frame")
    return data.tobytes()
