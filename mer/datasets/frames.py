"""Frame files of a clip: listing in numeric order and reading as RGB.

Frame names are unpadded in most corpora (`img9.jpg`, `img10.jpg`), so directory order and
lexicographic order are both wrong; frames are sorted by the number in the name.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from mer.errors import InputDataError


def list_frames(clip_dir: Path, pattern: re.Pattern[str]) -> list[tuple[int, Path]]:
    """(frame number, path) for every file whose whole name matches `pattern`, by number.

    `pattern` captures the frame number in its first group; other files are ignored.
    Files with the same number (`img7.jpg`, `img07.jpg`) are ordered by name.
    """
    found = []
    for path in Path(clip_dir).iterdir():
        match = pattern.fullmatch(path.name)
        if match and path.is_file():
            found.append((int(match.group(1)), path))
    return sorted(found, key=lambda item: (item[0], item[1].name))


def read_frame(path: Path, *, dataset: str, subject: str, clip: str, frame: int) -> np.ndarray:
    """One frame as (H, W, 3) uint8 RGB; greyscale images get their channel replicated.

    Raises InputDataError naming dataset, subject, clip and frame if the file is missing or
    cannot be decoded.
    """

    def failure(reason: str) -> InputDataError:
        return InputDataError(reason, dataset=dataset, subject=subject, clip=clip, frame=frame, path=str(path))

    if not Path(path).is_file():
        raise failure("frame file is missing")
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise failure("frame file cannot be decoded as an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
