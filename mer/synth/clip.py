"""One clip: its ground truth (exact motion parameters) and its JPEG frames rendered from it.

The ground-truth dict is built first and the frames are rendered from that very dict, so
what `ground_truth/<subject>/<clip>.json` says is what the pixels show.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from mer.synth.actions import au_bumps, parse_action_units
from mer.synth.appearance import Base
from mer.synth.field import bump_field, drift, intensity
from mer.synth.plan import ClipPlan
from mer.synth.render import encode_jpeg, render_frame
from mer.synth.seeds import rng

REFERENCE_FACE_PX = 224.0  # synth.amplitude_px is given for a face this tall
CONVENTION = (
    "frame_t(x) = gain_t * base(x - M_t(x)) + noise, M_t(x) = drift(t) + intensity(t) * sum(bumps)(x); "
    "mer.synth.displacement_field(gt, a, b) gives flow with frame_a(x) ~ frame_b(x + flow(x)) (OpenCV), "
    "channel 0 = x (columns), channel 1 = y (rows), frame pixel coordinates"
)


def _grid(frame_size: list[int]) -> tuple[np.ndarray, np.ndarray]:
    width, height = frame_size
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    return x, y


def clip_ground_truth(
    dataset: str, plan: ClipPlan, appearance: dict[str, Any], base: Base, synth: dict[str, Any]
) -> dict[str, Any]:
    """The clip's ground truth: frames, labels, subject appearance and every motion parameter.

    Bump vectors are scaled so that the largest displacement at the apex, over the pixel
    grid, equals the drawn amplitude rescaled from a 224-px face to this subject's face.
    """
    generator = rng(synth["seed"], "motion", plan.subject_index, plan.clip_index)
    bumps = au_bumps(parse_action_units(plan.action_units), base.landmarks, generator)
    peak = float(np.max(np.hypot(*bump_field(bumps, *_grid(synth["frame_size"])))))
    amplitude = plan.amplitude_224 * appearance["face_height_px"] / REFERENCE_FACE_PX
    for bump in bumps:
        bump["vector"] = [component * amplitude / peak for component in bump["vector"]]
    drift_angle = generator.uniform(0.0, 2 * math.pi)
    frequency = generator.uniform(1.0, 10.0)
    phase = generator.uniform(0.0, 2 * math.pi)
    jitter = generator.standard_normal(plan.last - plan.first + 1)
    waves = (math.sin(2 * math.pi * frequency * i / synth["fps"] + phase) for i in range(len(jitter)))
    gains = [1.0 + synth["flicker"] * (wave + 0.25 * float(j)) for wave, j in zip(waves, jitter, strict=True)]
    return {
        "dataset": dataset,
        "subject": plan.subject,
        "clip": plan.clip,
        "emotion": plan.emotion,
        "action_units": plan.action_units,
        "frames": {
            "first": plan.first,
            "onset": plan.onset,
            "apex": plan.apex,
            "offset": plan.offset,
            "last": plan.last,
            "apex_annotated": plan.apex_annotated,
        },
        "fps": synth["fps"],
        "frame_size": list(synth["frame_size"]),
        "amplitude_px": amplitude,
        "amplitude_224_px": plan.amplitude_224,
        "appearance": {**appearance, "landmarks": base.landmarks.tolist()},
        "motion": {
            "convention": CONVENTION,
            "intensity": "raised cosine: 0 at onset and offset, 1 at apex",
            "bumps": bumps,
            "drift": {
                "vector": [synth["drift_px"] * f(drift_angle) for f in (math.cos, math.sin)],
                "first": plan.first,
                "last": plan.last,
            },
        },
        "illumination": {
            "model": "gain = 1 + flicker * (sin(2 pi frequency_hz (t - first) / fps + phase) + N(0, 1) / 4)",
            "flicker": synth["flicker"],
            "frequency_hz": frequency,
            "phase": phase,
            "gain": gains,
        },
        "noise_sd": synth["noise_sd"],
        "jpeg_quality": synth["jpeg_quality"],
        "seed": synth["seed"],
    }


def write_frames(gt: dict[str, Any], plan: ClipPlan, base: Base, folder: Path, synth: dict[str, Any]) -> None:
    """Render and write img{N}.jpg for every frame first..last of the clip into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = gt["frames"]
    apex_field = bump_field(gt["motion"]["bumps"], *_grid(gt["frame_size"]))
    noise_rng = rng(synth["seed"], "noise", plan.subject_index, plan.clip_index)
    shape = base.image.shape
    for i, frame in enumerate(range(frames["first"], frames["last"] + 1)):
        motion = intensity(frame, frames["onset"], frames["apex"], frames["offset"]) * apex_field
        motion += drift(gt["motion"], frame)[:, None, None]
        noise = noise_rng.standard_normal(shape, dtype=np.float32) * np.float32(synth["noise_sd"])
        rgb = render_frame(base.image, motion, gt["illumination"]["gain"][i], noise)
        (folder / f"img{frame}.jpg").write_bytes(encode_jpeg(rgb, synth["jpeg_quality"]))
