"""The real face photographs the synthetic subjects are built from, with their MTCNN landmarks.

Both photos ship inside installed packages (scikit-image, matplotlib), so no download is
needed. Landmarks are detected once per photo and process with facenet-pytorch's MTCNN on
the CPU and rounded to 0.1 px, so float noise in the detector cannot change the corpus.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from mer.errors import InputDataError


def _astronaut() -> np.ndarray:
    import skimage.data

    return np.ascontiguousarray(skimage.data.astronaut()[..., :3])


def _grace_hopper() -> np.ndarray:
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


_LOADERS = {"astronaut": _astronaut, "grace_hopper": _grace_hopper}
PHOTOS = tuple(_LOADERS)


@dataclass(frozen=True)
class Photo:
    """An RGB uint8 photo with its MTCNN face box (x0, y0, x1, y1) and 5 landmarks (x, y).

    Landmark order is MTCNN's: left eye, right eye, nose, left mouth corner, right mouth
    corner, where left means the smaller image x.
    """

    name: str
    image: np.ndarray
    box: np.ndarray
    landmarks: np.ndarray


@functools.cache
def _detector() -> Any:
    """facenet-pytorch's MTCNN on the CPU with its shipped weights (one per process)."""
    from facenet_pytorch import MTCNN

    return MTCNN(keep_all=False, device="cpu")


@functools.cache
def photo(name: str) -> Photo:
    """The named photo (one of PHOTOS) with its detected face; cached per process."""
    from PIL import Image

    image = _LOADERS[name]()
    boxes, _, points = _detector().detect(Image.fromarray(image), landmarks=True)
    if boxes is None:
        raise InputDataError("MTCNN found no face in the base photo", path=name)
    box = np.round(np.asarray(boxes[0], dtype=np.float64), 1)
    landmarks = np.round(np.asarray(points[0], dtype=np.float64), 1)
    return Photo(name=name, image=image, box=box, landmarks=landmarks)
