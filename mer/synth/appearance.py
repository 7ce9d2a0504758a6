"""Synthetic subjects: the real photos turned into a distinct face at rest.

A subject is a base photo seen through a similarity transform (scale to the requested face
height, small rotation, aspect change, optional mirror, placement in the frame), a smooth
global shape warp, its own identity (mer.synth.identity: a blend with the other photo, a
feature morph, skin tone, texture and light), a colour balance and gamma, and a backdrop
blended in around the head. All of it is drawn from the subject's own seeded stream and
recorded as plain JSON values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from mer.synth.field import bump_field
from mer.synth.identity import contrast_preserving_blend, draw_identity, feature_bumps, similarity_fit, skin
from mer.synth.photos import PHOTOS, photo

MIRRORED_ORDER = [1, 0, 2, 4, 3]  # MTCNN points after a horizontal flip, back in MTCNN order
WARP_BUMPS = 3
LANDMARK_ITERATIONS = 30


@dataclass(frozen=True)
class Base:
    """A subject's face at rest: float32 RGB image (H, W, 3) in [0, 255], 5 landmarks (x, y)."""

    image: np.ndarray
    landmarks: np.ndarray


def draw_appearance(
    rng: np.random.Generator, subject_index: int, frame_size: list[int], face_size: int
) -> dict[str, Any]:
    """Appearance parameters of one subject; photos alternate with the subject index."""
    width, height = frame_size
    face = face_size * rng.uniform(0.92, 1.08)
    centre = [width * (0.5 + rng.uniform(-0.08, 0.08)), height * (0.5 + rng.uniform(-0.06, 0.06))]
    warp = []
    for _ in range(WARP_BUMPS):
        angle = rng.uniform(0, 2 * np.pi)
        magnitude = face * rng.uniform(0.02, 0.05)
        warp.append(
            {
                "center": [c + face * rng.uniform(-0.6, 0.6) for c in centre],
                "sigma": [face * rng.uniform(0.35, 0.7), face * rng.uniform(0.35, 0.7)],
                "angle": rng.uniform(0, np.pi),
                "vector": [magnitude * np.cos(angle), magnitude * np.sin(angle)],
            }
        )
    photo_name = PHOTOS[subject_index % len(PHOTOS)]
    return {
        "photo": photo_name,
        "mirrored": bool(rng.random() < 0.5),
        "face_height_px": face,
        "aspect": rng.uniform(0.94, 1.06),
        "rotation_deg": rng.uniform(-4.0, 4.0),
        "center": centre,
        "warp": warp,
        "colour_gains": rng.uniform(0.85, 1.15, size=3).tolist(),
        "gamma": rng.uniform(0.8, 1.25),
        "background": {
            "top": rng.uniform(0.1, 0.9, size=3).tolist(),
            "bottom": rng.uniform(0.1, 0.9, size=3).tolist(),
            "weight": rng.uniform(0.4, 0.9),
        },
        "identity": draw_identity(rng, photo_name),
    }


def _photo_to_frame(appearance: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear part M, photo face centre and frame face centre of the similarity transform."""
    source = photo(appearance["photo"])
    box = source.box
    scale = appearance["face_height_px"] / (box[3] - box[1])
    theta = np.deg2rad(appearance["rotation_deg"])
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    flip = -1.0 if appearance["mirrored"] else 1.0
    linear = rotation @ np.diag([flip * scale * appearance["aspect"], scale / appearance["aspect"]])
    photo_centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    return linear, photo_centre, np.asarray(appearance["center"], dtype=np.float64)


def _forward(appearance: dict[str, Any]) -> np.ndarray:
    """The 2 × 3 similarity A taking base-photo points to the frame, before the shape warp."""
    linear, photo_centre, frame_centre = _photo_to_frame(appearance)
    return np.hstack([linear, (frame_centre - linear @ photo_centre)[:, None]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def _shape_bumps(appearance: dict[str, Any]) -> list[dict[str, Any]]:
    """The rest-pose warp W: the global shape bumps plus the identity's feature morph."""
    anchors = _apply(_forward(appearance), photo(appearance["photo"]).landmarks)
    morph = feature_bumps(appearance["identity"], anchors, appearance["face_height_px"], appearance["mirrored"])
    return [*appearance["warp"], *morph]


def _blend_alignment(appearance: dict[str, Any]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The blend photo's transform to the frame and the bumps that put its landmarks on the base photo's.

    The similarity is a least-squares fit of its five landmarks (mirrored with the base photo)
    to the base photo's; the remaining offset at each landmark is taken up by a Gaussian bump.
    """
    anchors = _apply(_forward(appearance), photo(appearance["photo"]).landmarks)
    other = photo(appearance["identity"]["blend"]["photo"]).landmarks
    flip = np.diag([-1.0, 1.0]) if appearance["mirrored"] else np.eye(2)
    fitted = similarity_fit(other @ flip, anchors)
    forward = np.hstack([fitted[:, :2] @ flip, fitted[:, 2:]])
    residual = _apply(forward, other) - anchors
    sigma = 0.1 * appearance["face_height_px"]
    corrections = [
        {"center": list(point), "sigma": [sigma, sigma], "angle": 0.0, "vector": list(offset)}
        for point, offset in zip(anchors.tolist(), residual.tolist(), strict=True)
    ]
    return forward, corrections


def _landmarks(appearance: dict[str, Any]) -> np.ndarray:
    """The photo's landmarks in the frame: q with q + W(q) = A(p), solved by fixed-point iteration."""
    target = _apply(_forward(appearance), photo(appearance["photo"]).landmarks)
    bumps = _shape_bumps(appearance)
    current = target.copy()
    for _ in range(LANDMARK_ITERATIONS):
        current = target - bump_field(bumps, current[:, 0], current[:, 1]).T
    if appearance["mirrored"]:
        current = current[MIRRORED_ORDER]
    return current


def _backdrop(appearance: dict[str, Any], height: int, width: int) -> np.ndarray:
    """Vertical colour gradient (H, W, 3) in [0, 1]."""
    colours = appearance["background"]
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    top = np.asarray(colours["top"], dtype=np.float32)
    bottom = np.asarray(colours["bottom"], dtype=np.float32)
    return np.broadcast_to((1 - t) * top + t * bottom, (height, width, 3))


def _head_mask(appearance: dict[str, Any], x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Soft ellipse around the head (1 inside, 0 outside, feathered edge), float32 (H, W)."""
    face = appearance["face_height_px"]
    cx, cy = appearance["center"]
    radius = np.sqrt(((x - cx) / (0.8 * face)) ** 2 + ((y - cy + 0.12 * face) / (0.95 * face)) ** 2)
    edge = np.clip((1.0 - radius) / 0.15, 0.0, 1.0)
    return (edge * edge * (3 - 2 * edge)).astype(np.float32)


def _render_photo(name: str, forward: np.ndarray, field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Photo `name` in the frame: pixel x shows the photo at A⁻¹(x + field(x)), float32 RGB in [0, 1]."""
    image = photo(name).image.astype(np.float32) / 255.0
    scale = float(np.sqrt(abs(np.linalg.det(forward[:, :2]))))
    if scale < 1:
        image = cv2.GaussianBlur(image, (0, 0), 0.5 * np.sqrt(1 / scale**2 - 1))
    inverse = np.linalg.inv(forward[:, :2])
    offset_x = x + field[0] - forward[0, 2]
    offset_y = y + field[1] - forward[1, 2]
    map_x = inverse[0, 0] * offset_x + inverse[0, 1] * offset_y
    map_y = inverse[1, 0] * offset_x + inverse[1, 1] * offset_y
    return cv2.remap(
        image, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )


def render_base(appearance: dict[str, Any], frame_size: list[int]) -> Base:
    """The subject's face at rest in a frame of `frame_size` (width, height)."""
    width, height = frame_size
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    shape = bump_field(_shape_bumps(appearance), x, y)
    face = _render_photo(appearance["photo"], _forward(appearance), shape, x, y)
    blend = appearance["identity"]["blend"]
    other_forward, corrections = _blend_alignment(appearance)
    other = _render_photo(blend["photo"], other_forward, shape + bump_field(corrections, x, y), x, y)
    face = contrast_preserving_blend(face, other, blend["weight"], appearance["face_height_px"])
    gains = np.asarray(appearance["colour_gains"], dtype=np.float32)
    face = np.clip(face, 0.0, 1.0) ** appearance["gamma"] * gains
    face = skin(appearance["identity"], face, x, y, appearance["center"], appearance["face_height_px"])
    mask = _head_mask(appearance, x, y)[..., None]
    weight = appearance["background"]["weight"]
    backdrop = weight * _backdrop(appearance, height, width) + (1 - weight) * face
    composite = mask * face + (1 - mask) * backdrop
    image = (np.clip(composite, 0.0, 1.0) * 255.0).astype(np.float32)
    return Base(image=image, landmarks=_landmarks(appearance))
