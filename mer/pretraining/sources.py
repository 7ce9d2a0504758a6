"""Macro-expression videos from a folder: video files (decoded with OpenCV) or frame folders.

Any layout is accepted. Under the root, every video file (by extension) is one video and
every folder that directly holds image files is one video whose frames are those images in
natural order (`img9.jpg` before `img10.jpg`). Videos are listed in natural order of their
path relative to the root, so the list, and everything drawn from it with a seed, is the
same on every machine. Names starting with a dot are skipped. Bad input (no root, no video,
an unreadable file, frames of mixed sizes) raises InputDataError naming the file.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mer.errors import InputDataError

VIDEO_SUFFIXES = frozenset({".avi", ".mp4", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".m4v", ".wmv"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key that orders digit runs by value: 'img9' < 'img10'; ties broken by the text itself.

    `re.split` with a capturing group alternates text and digits, so keys compare position by
    position without mixing str and int.
    """
    parts = _DIGITS.split(text.lower())
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), text


@dataclass(frozen=True)
class Video:
    """One video: its name (path relative to the root, '/'-separated) and its files.

    A video file has `files == (path,)`; a frame folder lists its images in natural order.
    """

    name: str
    files: tuple[Path, ...]
    is_folder: bool


def find_videos(root: str | Path) -> list[Video]:
    """Every video under `root` (video files and frame folders), in natural order of their names."""
    root = Path(root)
    if not root.is_dir():
        raise InputDataError("macro-expression video folder not found", path=str(root))
    videos = []
    for folder in [root, *(p for p in root.rglob("*") if p.is_dir() and not _hidden(p, root))]:
        files = [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]
        images = sorted((p for p in files if p.suffix.lower() in IMAGE_SUFFIXES), key=lambda p: natural_key(p.name))
        if images:
            videos.append(Video(_relative(folder, root), tuple(images), is_folder=True))
        clips = [p for p in files if p.suffix.lower() in VIDEO_SUFFIXES]
        videos += [Video(_relative(p, root), (p,), is_folder=False) for p in clips]
    if not videos:
        raise InputDataError("no video files or frame folders found", path=str(root))
    return sorted(videos, key=lambda video: natural_key(video.name))


def _hidden(path: Path, root: Path) -> bool:
    """A dot-folder (or one inside it): staging folders and tool metadata are not videos."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() or "."


def read_video(video: Video) -> np.ndarray:
    """All frames of `video` as (T, H, W, 3) uint8 RGB; InputDataError if none can be read."""
    if video.is_folder:
        frames = [_read_image(path, i) for i, path in enumerate(video.files)]
    else:
        frames = _decode(video.files[0])
    if not frames:
        raise InputDataError("video holds no decodable frame", path=str(video.files[0]))
    for i, frame in enumerate(frames):
        if frame.shape != frames[0].shape:
            where = str(video.files[i] if video.is_folder else video.files[0])
            reason = f"frame size {frame.shape[:2]} differs from the first {frames[0].shape[:2]}"
            raise InputDataError(reason, frame=i, path=where)
    return np.stack(frames)


def _read_image(path: Path, index: int) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise InputDataError("frame file cannot be decoded as an image", frame=index, path=str(path))
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _decode(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InputDataError("video cannot be opened", path=str(path))
    frames = []
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return frames


def videos_sha256(videos: list[Video]) -> str:
    """SHA-256 over every video's name and its files' names and bytes, in order: the data hash."""
    digest = hashlib.sha256()
    for video in videos:
        digest.update(f"{video.name}\n".encode())
        for path in video.files:
            digest.update(f"{path.name}\n".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()
