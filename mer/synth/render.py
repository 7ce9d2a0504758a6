"""One video frame: backward-warp the base image, apply illumination gain and sensor noise, JPEG-encode."""

from __future__ import annotations

import cv2
import numpy as np


def render_frame(base: np.ndarray, motion: np.ndarray, gain: float, noise: np.ndarray) -> np.ndarray:
    """uint8 RGB frame = clip(round(gain * base(x - motion(x)) + noise)).

    base: float32 (H, W, 3); motion: content motion (2, H, W) in pixels; noise: float32 (H, W, 3).
    Bicubic interpolation keeps sub-pixel motion faithful; borders reflect.
    """
    height, width = base.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    warped = cv2.remap(
        base,
        x - motion[0].astype(np.float32),
        y - motion[1].astype(np.float32),
        cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REFLECT,
    )
    return np.clip(np.rint(warped * np.float32(gain) + noise), 0, 255).astype(np.uint8)


def encode_jpeg(rgb: np.ndarray, quality: int) -> bytes:
    """Baseline JPEG bytes of an RGB uint8 image (OpenCV/libjpeg, deterministic for equal input)."""
    bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode a JPEG frame")
    return encoded.tobytes()
