"""Stage a raw video (.avi/.mp4) as frame files named and numbered like the corpus's frames.

Corpora that ship videos (CAS(ME)^2 `rawvideo/`, CAS(ME)^3) are read through their frame
layout, so a video is decoded once (OpenCV `VideoCapture`) into `<clip_dir>/<name>`, frame
k of the video (0-based) getting number `first + k`; annotation frame numbers then refer to
the same frames as in the corpus's own frame release. JPEG quality is fixed (95) so that
staging the same video twice gives identical files.
"""

from __future__ import annotations

from pathlib import Path

import cv2

from mer import atomic
from mer.datasets.registry import DatasetInfo
from mer.errors import InputDataError

JPEG_QUALITY = 95


def stage(info: DatasetInfo, video: Path, clip_dir: Path, subject: str, first: int = 1) -> int:
    """Decode `video` into `clip_dir` with the corpus's frame names; returns the frame count.

    Raises InputDataError naming the video if it cannot be opened or holds no frame.
    """
    if not info.frame_format:
        raise InputDataError(f"{info.display_name} has no frame-name format for staging videos", dataset=info.name)
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise InputDataError("video cannot be opened", dataset=info.name, subject=subject, path=str(video))
    clip_dir.mkdir(parents=True, exist_ok=True)
    count = 0
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            name = info.frame_format.format(n=first + count, subject=subject)
            if info.frame_regex.fullmatch(name) is None:
                raise InputDataError(f"staged name {name} does not match the corpus's frame pattern", dataset=info.name)
            if info.greyscale:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if not ok:
                raise InputDataError("frame cannot be encoded", dataset=info.name, frame=first + count, path=str(video))
            with atomic.atomic_path(clip_dir / name) as tmp:
                tmp.write_bytes(encoded.tobytes())
            count += 1
    finally:
        capture.release()
    if count == 0:
        raise InputDataError("video holds no decodable frame", dataset=info.name, subject=subject, path=str(video))
    return count
