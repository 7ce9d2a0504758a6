"""Middlebury colour coding of flow: wheel, directions, saturation, out-of-range and unknown flow, legend."""

from __future__ import annotations

import numpy as np
import pytest

from mer.flow.visualise import OUT_OF_RANGE, SEGMENTS, colour_wheel, flow_to_rgb, wheel_legend


def test_wheel_has_the_published_ramps() -> None:
    wheel = colour_wheel()
    assert len(wheel) == sum(SEGMENTS) == 55
    starts = np.cumsum((0, *SEGMENTS[:-1]))
    primaries = [(255, 0, 0), (255, 255, 0), (0, 255, 0), (0, 255, 255), (0, 0, 255), (255, 0, 255)]
    np.testing.assert_array_equal(wheel[starts], primaries)  # red, yellow, green, cyan, blue, magenta
    assert np.all(np.abs(np.diff(wheel, axis=0)) <= 255 / min(SEGMENTS) + 1)  # ramps, no jumps


def test_direction_sets_hue_and_magnitude_sets_saturation() -> None:
    # right, down, left, up, zero, half radius to the right
    flow = np.array([[[1.0, 0.0, -1.0, 0.0, 0.0, 0.5]], [[0.0, 1.0, 0.0, -1.0, 0.0, 0.0]]])
    rgb = flow_to_rgb(flow, max_radius=1.0)[0]
    assert rgb.dtype == np.uint8 and rgb.shape == (6, 3)
    np.testing.assert_array_equal(rgb[0], [255, 0, 0])  # +x is red
    assert rgb[1, 0] == 255 and rgb[1, 1] > 200 and rgb[1, 2] == 0  # +y (down) is yellow
    assert rgb[2, 2] == 255 and rgb[2, 0] == 0  # −x is cyan-blue
    assert rgb[3, 2] == 255 and rgb[3, 1] == 0  # −y (up) is blue-violet
    np.testing.assert_array_equal(rgb[4], [255, 255, 255])  # no motion is white
    np.testing.assert_array_equal(rgb[5], [255, 127, 127])  # half way to pure red


def test_default_radius_out_of_range_and_unknown_flow() -> None:
    flow = np.array([[[2.0, 4.0, np.nan]], [[0.0, 0.0, 0.0]]])
    np.testing.assert_array_equal(flow_to_rgb(flow)[0, 1], [255, 0, 0])  # largest finite magnitude saturates
    beyond = flow_to_rgb(flow, max_radius=2.0)[0]
    np.testing.assert_array_equal(beyond[1], [int(255 * OUT_OF_RANGE), 0, 0])
    np.testing.assert_array_equal(beyond[2], [0, 0, 0])  # unknown flow is black
    np.testing.assert_array_equal(flow_to_rgb(np.zeros((2, 3, 3))), np.full((3, 3, 3), 255))
    with pytest.raises(ValueError, match="shape"):
        flow_to_rgb(np.zeros((3, 4, 4)))


def test_legend_is_the_wheel_in_image_axes() -> None:
    legend = wheel_legend(21)
    assert legend.shape == (21, 21, 3) and legend.dtype == np.uint8
    np.testing.assert_array_equal(legend[10, 10], [255, 255, 255])  # centre: zero flow
    np.testing.assert_array_equal(legend[10, 20], [255, 0, 0])  # right edge: +x
    np.testing.assert_array_equal(legend[0, 0], [255, 255, 255])  # outside the disc
    np.testing.assert_array_equal(legend[20, 10], flow_to_rgb(np.array([[[0.0]], [[1.0]]]), 1.0)[0, 0])  # bottom: +y
