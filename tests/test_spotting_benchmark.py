"""The ground-truth keyframe benchmark's bookkeeping (the corpus-generating part runs in `mer bench`)."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from mer.bench.keyframes import (
    DEFAULT_NUISANCE,
    Clip,
    Grid,
    Nuisance,
    annotate,
    criterion_scale,
    evaluate,
    markdown,
)
from mer.errors import ConfigError


def test_annotation_error_is_rounded_gaussian_kept_inside_the_clip() -> None:
    rng = np.random.default_rng(0)
    draws = [annotate(20, 10, 30, 4.0, rng) for _ in range(2000)]
    assert min(draws) >= 11 and max(draws) <= 29
    assert abs(np.mean(draws) - 20) < 0.3 and 3.0 < np.std(draws) < 4.5
    assert annotate(20, 10, 30, 0.0, rng) == 20
    assert annotate(12, 10, 30, 50.0, np.random.default_rng(1)) in (11, 29)


def test_nuisance_scales_only_drift_flicker_and_noise() -> None:
    synth = {"drift_px": 0.3, "flicker": 0.01, "noise_sd": 1.5, "fps": 200, "amplitude_px": [0.8, 2.0]}
    scaled = Nuisance(2, 0, 0.5).apply(synth)
    assert scaled == {**synth, "drift_px": 0.6, "flicker": 0.0, "noise_sd": 0.75}
    assert synth["drift_px"] == 0.3  # the input is not modified
    assert Nuisance().is_default and not Nuisance(1, 1, 0).is_default
    assert Nuisance.parse("1,0,0.25") == Nuisance(1, 0, 0.25)
    assert Nuisance(0.25, 0.25, 0.25).label == "drift×0.25 flicker×0.25 noise×0.25"
    for bad in ("1,0", "a,b,c", "1,1,1,1"):
        with pytest.raises(ConfigError, match="DRIFT,FLICKER,NOISE"):
            Nuisance.parse(bad)
    for bad in ((-1, 0, 0), (0, float("nan"), 0), (0, 0, float("inf"))):
        with pytest.raises(ConfigError, match="finite and ≥ 0"):
            Nuisance(*bad)


def test_grid_runs_slow_spotters_only_at_the_default_nuisance() -> None:
    grid = Grid()
    assert grid.nuisance == DEFAULT_NUISANCE and grid.nuisance[0].is_default
    assert grid.lambdas == (0.05, 0.1, 0.15, 0.2, 0.25)  # GAMDSS Table V
    assert grid.spotters_for(Nuisance()) == ("frame_difference", "flow_magnitude")
    assert grid.spotters_for(Nuisance(0, 0, 0)) == ("frame_difference",)
    assert grid.all_spotters == ("frame_difference", "flow_magnitude")
    assert asdict(grid)["nuisance"][2] == {"drift": 0.0, "flicker": 0.0, "noise": 0.0}
    with pytest.raises(ConfigError, match="unknown spotters"):
        Grid(spotters=("optical_magic",))


def peak_clip(drift: float = 0.0) -> Clip:
    """A clean Gaussian peak at frame 22 on 4×4 frames, plus an optional linear brightness ramp (drift)."""
    numbers = np.arange(40)
    peak = np.exp(-0.5 * ((numbers - 22) / 4.0) ** 2)
    frames = (100 + 60 * peak + drift * numbers)[:, None, None] * np.ones((40, 4, 4))
    frames[:, 0, 0] = 100  # keeps the mean from tracking the peak exactly
    return Clip("sub01", "EP01", frames, numbers, 5, 22, 35, {"frame_difference": 22})


def test_evaluate_counts_moves_and_reuses_reselections() -> None:
    grid = Grid(noise_sd=(0.0, 6.0), lambdas=(0.1, 0.3), repeats=30)
    rows, cost = evaluate([peak_clip()], grid, "backward")
    assert rows[0]["annotated"] == 0.0 and rows[0]["reselected"]["0.1"] == 0.0
    assert rows[0]["apex_move"]["0.3"] == 0.0 and rows[0]["onset_error"]["0.3"] == 0.0
    assert rows[1]["annotated"] > 2.0 and rows[1]["spotted"]["frame_difference"] == 0.0
    assert rows[1]["closer"]["0.3"] > rows[1]["farther"]["0.3"]  # a clean peak: reselection helps
    assert rows[1]["reselected"]["0.3"] < rows[1]["annotated"]
    # One call per distinct annotated apex (σ = 0 gives the true one) and λ, not one per draw.
    distinct = {22} | {annotate(22, 5, 35, 6.0, np.random.default_rng([0, 1, 0, r])) for r in range(30)}
    assert cost["calls"] == 2 * len(distinct) < 2 * 2 * 30 and cost["seconds"] > 0


@pytest.mark.parametrize(("window", "move"), [("symmetric", 5), ("backward", 0)])
def test_monotone_nuisance_pulls_the_reselected_apex_late(window: str, move: int) -> None:
    # R = int(0.3 · 17) = 5: the symmetric window's late edge; the backward window ends at the annotation.
    grid = Grid(noise_sd=(0.0,), lambdas=(0.3,), repeats=1)
    rows, _ = evaluate([peak_clip(drift=20.0)], grid, window)
    assert rows[0]["apex_move"]["0.3"] == move
    assert rows[0]["reselected"]["0.3"] == float(move)


def test_criterion_scale_separates_expression_from_nuisance() -> None:
    clean, drifting = criterion_scale([peak_clip()]), criterion_scale([peak_clip(drift=6.0)])
    assert clean["offset_onset"] < 2.0 < 200.0 < clean["apex_onset"]  # the peak is ~0 at onset and offset
    assert drifting["offset_onset"] == pytest.approx(6.0 * 30 * np.sqrt(15), rel=0.01)  # the ramp alone
    assert drifting["offset_onset"] > drifting["apex_onset"]  # nuisance outweighs the expression


def test_markdown_has_one_row_per_nuisance_and_noise_level() -> None:
    grid = Grid(noise_sd=(0.0, 6.0), lambdas=(0.1,), nuisance=(Nuisance(), Nuisance(0, 0, 0)), repeats=3)
    levels = []
    for nuisance, clip in zip(grid.nuisance, (peak_clip(drift=6.0), peak_clip()), strict=True):
        if nuisance.is_default:
            clip.spotted["flow_magnitude"] = 20
        rows, _ = evaluate([clip], grid, "symmetric")
        criterion = criterion_scale([clip])
        levels.append({"label": nuisance.label, "clips": 1, "subjects": 1, "criterion": criterion, "rows": rows})
    synth = {"drift_px": 0.3, "flicker": 0.01, "noise_sd": 1.5}
    result = {"grid": asdict(grid), "apex_window": "symmetric", "synth": synth, "levels": levels}
    text = markdown(result)
    assert "| drift×1 flicker×1 noise×1 | 0 | 0.00 | 1.00 | 0.00 | 2.00 |" in text  # the ramp moves exact apexes
    assert "| drift×0 flicker×0 noise×0 | 0 | 0.00 | 0.00 | 0.00 | – |" in text
    assert "| drift×0 flicker×0 noise×0 | 6 | 5.00 | **4.33** |" in text
    assert "λ=0.1" in text and "spotted (flow_magnitude)" in text and "0.3 px, 0.01, 1.5 grey levels" in text
    assert "the symmetric apex window" in text
    assert text.count("| drift×0 flicker×0 noise×0 |") == 2 + 2 + 1 + 1  # error, moves, criterion, onset/offset
