"""The ground-truth keyframe benchmark's bookkeeping (the corpus-generating part runs in `mer bench`)."""

from __future__ import annotations

import numpy as np

from mer.bench.keyframes import Clip, Grid, annotate, evaluate, markdown


def test_annotation_error_is_rounded_gaussian_kept_inside_the_clip() -> None:
    rng = np.random.default_rng(0)
    draws = [annotate(20, 10, 30, 4.0, rng) for _ in range(2000)]
    assert min(draws) >= 11 and max(draws) <= 29
    assert abs(np.mean(draws) - 20) < 0.3 and 3.0 < np.std(draws) < 4.5
    assert annotate(20, 10, 30, 0.0, rng) == 20
    assert annotate(12, 10, 30, 50.0, np.random.default_rng(1)) in (11, 29)


def test_evaluate_and_table() -> None:
    numbers = np.arange(40)
    peak = np.exp(-0.5 * ((numbers - 22) / 4.0) ** 2)
    frames = (100 + 60 * peak)[:, None, None] * np.ones((40, 4, 4))
    frames[:, 0, 0] = 100  # keeps the mean from tracking the peak exactly
    clip = Clip("sub01", "EP01", frames, numbers, 5, 22, 35, {"frame_difference": 22})
    grid = Grid(noise_sd=(0.0, 6.0), lambdas=(0.1,), repeats=30, spotters=("frame_difference",))
    rows, seconds = evaluate([clip], grid)
    assert seconds > 0
    assert rows[0]["annotated"] == 0.0 and rows[0]["reselected"]["0.1"] == 0.0
    assert rows[1]["annotated"] > 2.0 and rows[1]["spotted"]["frame_difference"] == 0.0
    assert rows[1]["closer"]["0.1"] > rows[1]["farther"]["0.1"]  # a clean peak: reselection helps
    result = {"grid": {**grid.__dict__, "lambdas": [0.1]}, "clips": 1, "subjects": 1, "rows": rows}
    text = markdown(result)
    assert "| 0 | 0.00 | 0.00 | 0.00 |" in text
    assert "reselected λ=0.1" in text and "spotted (frame_difference)" in text
