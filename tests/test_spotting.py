"""Apex spotting: maximum motion from the onset, strictly inside (onset, offset)."""

from __future__ import annotations

import numpy as np
import pytest

from mer.errors import InputDataError
from mer.preprocess.spotting import SPOTTERS, frame_difference, motion_curve, spot_apex

FLOW = {
    "size": 32,
    "tvl1": {
        "tau": 0.25,
        "lambda_": 0.15,
        "theta": 0.3,
        "nscales": 3,
        "warps": 3,
        "epsilon": 0.01,
        "inner_iterations": 10,
        "outer_iterations": 5,
        "scale_step": 0.8,
        "gamma": 0.0,
        "median_filtering": 5,
    },
}


def blob_clip(peak: int, length: int = 15, size: int = 32) -> np.ndarray:
    """uint8 RGB frames of a Gaussian blob moving right by up to 3 px, farthest at frame `peak`."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    shift = 3.0 * np.clip(1 - np.abs(np.arange(length) - peak) / peak, 0, 1)
    frames = []
    for s in shift:
        blob = 60 + 150 * np.exp(-((x - 14 - s) ** 2 + (y - 16) ** 2) / 30.0)
        frames.append(np.repeat(blob[..., None], 3, axis=2))
    return np.round(np.stack(frames)).astype(np.uint8)


@pytest.mark.parametrize("method", sorted(SPOTTERS))
def test_spotted_apex_is_the_frame_that_moved_most(method: str) -> None:
    frames = blob_clip(peak=6)
    numbers = np.arange(100, 115)
    result = spot_apex(frames, numbers, 100, 114, method, FLOW)
    assert result.apex == 106 and result.method == method
    assert result.frame_numbers.tolist() == numbers.tolist()
    assert result.curve[0] == 0 and int(np.argmax(result.curve)) == 6


def test_frame_difference_does_not_wrap_uint8() -> None:
    frames = np.random.default_rng(0).integers(0, 256, size=(9, 6, 6, 3)).astype(np.uint8)
    numbers = np.arange(9)
    exact = frame_difference(frames.astype(np.float64), numbers, {})
    np.testing.assert_array_equal(frame_difference(frames, numbers, {}), exact)


def test_drift_and_gain_cancel_against_the_onset_offset_baseline() -> None:
    # A face brightening and drifting steadily: without the baseline the offset looks most moved.
    rng = np.random.default_rng(1)
    texture = rng.uniform(50, 150, size=(8, 8))
    drift = np.linspace(0, 1, 11)[:, None, None] * rng.uniform(-20, 20, size=(8, 8))
    gain = np.linspace(1.0, 1.1, 11)[:, None, None]
    bump = np.zeros((11, 8, 8))
    bump[:, 2:4, 2:4] = 20 * np.sin(np.pi * np.arange(11) / 10)[:, None, None] ** 2
    bump[4, 2:4, 2:4] += 5  # the true apex is frame 4
    frames = gain * (texture + drift + bump)
    flat = frames.reshape(11, -1)
    assert int(np.argmax(np.linalg.norm(flat - flat[0], axis=1))) == 10
    rescaled = flat * flat[0].mean() / flat.mean(axis=1, keepdims=True)  # gain alone does not fix it
    assert int(np.argmax(np.linalg.norm(rescaled - rescaled[0], axis=1))) == 10
    assert spot_apex(frames, np.arange(11), 0, 10).apex == 4


def pattern(values: list[int]) -> np.ndarray:
    """uint8 frames [[v, 100 − v]]: the mean stays 50, so gain scaling leaves them unchanged."""
    return np.array([[[v, 100 - v]] for v in values], dtype=np.uint8)


def test_apex_never_on_onset_or_offset_and_window_is_onset_to_offset() -> None:
    # Frames 0, 9 and 10 differ most but lie outside onset 1 … offset 8.
    result = spot_apex(pattern([90, 10, 12, 14, 30, 18, 16, 15, 10, 0, 95]), np.arange(11), 1, 8)
    assert result.apex == 4
    assert result.frame_numbers.tolist() == list(range(1, 9))
    assert result.curve[0] == 0 and result.curve[-1] == 0


def test_ties_go_to_the_earliest_and_short_clips_keep_the_onset() -> None:
    frames = np.array([[[0, 9]], [[5, 9]], [[5, 9]], [[0, 9]]], dtype=np.uint8)
    assert spot_apex(frames, np.arange(4), 0, 3).apex == 1
    assert spot_apex(frames[:2], np.arange(2), 0, 1).apex == 0


def test_gaps_in_frame_numbers() -> None:
    frames = pattern([0, 3, 9, 4, 0])
    assert spot_apex(frames, np.array([10, 12, 15, 16, 18]), 10, 18).apex == 15


def test_missing_keyframe_and_unknown_method() -> None:
    frames = np.zeros((3, 2, 2), dtype=np.uint8)
    with pytest.raises(InputDataError) as info:
        spot_apex(frames, np.array([0, 1, 3]), 0, 2)
    assert info.value.frame == 2
    with pytest.raises(ValueError, match="unknown spotting method"):
        motion_curve("optical_magic", frames, np.arange(3))
