"""Per-subject facial identity of the synthetic corpora, and how far apart identities are.

Two shipped photographs are all the face texture the twin has (mer.synth.photos), so without
more each held-out subject would be a lightly altered copy of half the training subjects.
Each subject therefore gets its own identity on top of the placement in `appearance.py`:

* a *blend* of its base photo with the other photo, aligned on the five MTCNN landmarks
  (a least-squares similarity, then Gaussian corrections at the landmarks), with the fine
  detail kept at one face's contrast;
* a *feature morph*: eye spacing and height, nose height, mouth width and height moved by a
  few percent of the face height, as Gaussian bumps centred on the landmarks;
* a *skin tone* between light and deep, a static *skin texture* (band-pass noise and a few
  moles) and a *directional light* across the face.

Every value is drawn from the subject's seeded stream and recorded in its appearance, so the
ground truth stays exact: the landmarks follow the morph (solved in `appearance._landmarks`).
`identity_distances` measures the result on the rest faces, in units that compare twins.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from mer.synth.photos import PHOTOS

# Feature morph ranges, as fractions of the face height (half-widths of uniform draws).
EYE_SPACING, EYE_HEIGHT, NOSE_HEIGHT, MOUTH_WIDTH, MOUTH_HEIGHT = 0.035, 0.025, 0.025, 0.035, 0.03
FEATURE_SIGMA = 0.1  # of the face height: a bump moves one feature, not its neighbours
BLEND_MAX = 0.5  # the other photo's largest share: the base photo always dominates
DEEP_TONE = (0.62, 0.5, 0.42)  # RGB albedo ratio of the deepest tone to the photo's own
# ArcFace's 5-point template for a 112 × 112 crop (InsightFace, `arcface_dst`), MTCNN order.
TEMPLATE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
)
DESCRIPTOR_PX = 64
REFERENCE_FACE_PX = 150  # face height the texture's scale and mole radii are given for


def draw_identity(rng: np.random.Generator, photo_name: str) -> dict[str, Any]:
    """Identity parameters of one subject whose base photo is `photo_name`."""
    others = [name for name in PHOTOS if name != photo_name]
    return {
        "blend": {"photo": others[0], "weight": rng.uniform(0.0, BLEND_MAX)},
        "features": {
            "eye_spacing": rng.uniform(-EYE_SPACING, EYE_SPACING),
            "eye_height": rng.uniform(-EYE_HEIGHT, EYE_HEIGHT),
            "nose_height": rng.uniform(-NOSE_HEIGHT, NOSE_HEIGHT),
            "mouth_width": rng.uniform(-MOUTH_WIDTH, MOUTH_WIDTH),
            "mouth_height": rng.uniform(-MOUTH_HEIGHT, MOUTH_HEIGHT),
        },
        "skin_tone": rng.uniform(0.0, 0.6),
        "texture": {
            "seed": int(rng.integers(2**31)),
            "scale": rng.uniform(1.2, 2.5),
            "contrast": rng.uniform(0.015, 0.04),
            "moles": int(rng.integers(0, 5)),
        },
        "light": {"angle": rng.uniform(0.0, 2 * np.pi), "strength": rng.uniform(0.05, 0.3)},
    }


def feature_bumps(identity: dict[str, Any], landmarks: np.ndarray, face: float, mirrored: bool) -> list[dict[str, Any]]:
    """Shape-warp bumps (mer.synth.field) that move each feature by its drawn offset.

    `landmarks` are the photo's points in the frame before the shape warp, in the photo's
    MTCNN order; a rest-pose warp W shows content A(p) at x with x + W(x) = A(p), so moving a
    feature by d takes a bump of vector -d at it. `mirrored` flips which eye is on the left.
    """
    f = identity["features"]
    outward = -1.0 if mirrored else 1.0  # +x points away from the face centre for photo point 1
    moves = [
        (-0.5 * outward * f["eye_spacing"], f["eye_height"]),
        (0.5 * outward * f["eye_spacing"], f["eye_height"]),
        (0.0, f["nose_height"]),
        (-0.5 * outward * f["mouth_width"], f["mouth_height"]),
        (0.5 * outward * f["mouth_width"], f["mouth_height"]),
    ]
    sigma = FEATURE_SIGMA * face
    return [
        {"center": list(point), "sigma": [sigma, sigma], "angle": 0.0, "vector": [-dx * face, -dy * face]}
        for point, (dx, dy) in zip(landmarks.tolist(), moves, strict=True)
    ]


def similarity_fit(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """2 × 3 least-squares similarity (rotation, uniform scale, translation) taking `source` to `target`."""
    rows, values = [], []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows += [[x, -y, 1.0, 0.0], [y, x, 0.0, 1.0]]
        values += [u, v]
    a, b, tx, ty = np.linalg.lstsq(np.asarray(rows), np.asarray(values), rcond=None)[0]
    return np.array([[a, -b, tx], [b, a, ty]])


def contrast_preserving_blend(face: np.ndarray, other: np.ndarray, weight: float, height: float) -> np.ndarray:
    """(1 − w)·face + w·other with the fine detail rescaled to a single face's contrast.

    Averaging two uncorrelated textures shrinks their detail by √((1 − w)² + w²) (to 71 % at
    w = ½), which would make every blended subject's motion fainter against the sensor noise;
    the part above a σ = 0.03-face low-pass is divided by that factor instead.
    """
    mixed = (1 - weight) * face + weight * other
    coarse = cv2.GaussianBlur(mixed, (0, 0), 0.03 * height)
    return coarse + (mixed - coarse) / np.float32(np.hypot(1 - weight, weight))


def skin(
    identity: dict[str, Any], face: np.ndarray, x: np.ndarray, y: np.ndarray, centre: list[float], height: float
) -> np.ndarray:
    """`face` (H, W, 3, in [0, 1]) under the subject's skin tone, texture and directional light."""
    tone = 1.0 + identity["skin_tone"] * (np.asarray(DEEP_TONE, dtype=np.float32) - 1.0)
    texture = identity["texture"]
    noise_rng = np.random.default_rng(texture["seed"])
    grain = max(texture["scale"] * height / REFERENCE_FACE_PX, 1.0)
    pattern = cv2.GaussianBlur(noise_rng.standard_normal(face.shape[:2]).astype(np.float32), (0, 0), grain)
    pattern *= np.float32(texture["contrast"] / max(float(pattern.std()), 1e-6))
    for _ in range(texture["moles"]):
        mx = centre[0] + height * noise_rng.uniform(-0.35, 0.35)
        my = centre[1] + height * noise_rng.uniform(-0.35, 0.4)
        radius = noise_rng.uniform(1.0, 2.5) * height / REFERENCE_FACE_PX
        pattern -= np.float32(noise_rng.uniform(0.2, 0.4)) * np.exp(
            -((x - mx) ** 2 + (y - my) ** 2) / (2 * radius**2)
        ).astype(np.float32)
    light = identity["light"]
    along = ((x - centre[0]) * np.cos(light["angle"]) + (y - centre[1]) * np.sin(light["angle"])) / (0.8 * height)
    shading = 1.0 + light["strength"] * np.clip(along, -1.0, 1.0)
    return face * tone * ((1.0 + pattern) * shading.astype(np.float32))[..., None]


def aligned_face(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The face warped onto ArcFace's template at DESCRIPTOR_PX, grey, zero mean and unit SD."""
    template = TEMPLATE_112 * (DESCRIPTOR_PX / 112)
    matrix = similarity_fit(np.asarray(landmarks, dtype=np.float64), template)
    grey = cv2.cvtColor(np.clip(image, 0, 255).astype(np.float32), cv2.COLOR_RGB2GRAY)
    crop = cv2.warpAffine(grey, matrix, (DESCRIPTOR_PX, DESCRIPTOR_PX), flags=cv2.INTER_AREA)
    return (crop - crop.mean()) / max(float(crop.std()), 1e-6)


def identity_distances(faces: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, Any]:
    """How far apart the subjects' rest faces are, for the twin's ground truth.

    `faces` maps a subject to its rest image (H, W, 3, 0–255) and its 5 landmarks. Each face
    is aligned on the landmarks and standardised (`aligned_face`); the distance is the RMS
    difference of two such crops (0: the same face; √2 ≈ 1.41: uncorrelated faces). The
    nearest other subject's distance is what leave-one-subject-out generalisation faces.
    """
    names = sorted(faces)
    crops = [aligned_face(*faces[name]) for name in names]
    matrix = [[float(np.sqrt(np.mean((a - b) ** 2))) for b in crops] for a in crops]
    nearest = [min(row[j] for j in range(len(names)) if j != i) for i, row in enumerate(matrix)]
    return {
        "descriptor": f"RMS difference of grey rest faces aligned on ArcFace's 5-point template at "
        f"{DESCRIPTOR_PX} px, each standardised to zero mean and unit SD",
        "subjects": names,
        "distance": [[round(d, 4) for d in row] for row in matrix],
        "nearest_other": {name: round(d, 4) for name, d in zip(names, nearest, strict=True)},
        "median_nearest_other": round(float(np.median(nearest)), 4),
        "min_nearest_other": round(float(np.min(nearest)), 4),
    }
