"""TV-L1 (OpenCV contrib), optical strain and the per-subject flow cache."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest

from mer import h5
from mer.errors import ConfigError, InputDataError
from mer.flow import backends
from mer.flow.cache import flow_subject, load_flow, middle_frames
from mer.flow.opencv import create_tvl1, tvl1_opencv
from mer.flow.strain import SCHEME, optical_strain

TVL1 = {
    "tau": 0.25,
    "lambda_": 0.15,
    "theta": 0.3,
    "nscales": 5,
    "warps": 5,
    "epsilon": 0.01,
    "inner_iterations": 30,
    "outer_iterations": 10,
    "scale_step": 0.8,
    "gamma": 0.0,
    "median_filtering": 5,
}


def texture(size: int, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """Smooth analytic texture T(x − dx, y − dy) as float: shifting by d moves content by +d."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    x, y = x - dx, y - dy
    waves = [(0.05, 0.02, 0.3), (0.013, 0.07, 1.1), (0.09, -0.04, 2.0), (-0.03, 0.11, 0.7)]
    return 128 + 40 * sum(np.sin(2 * np.pi * (fx * x + fy * y) + phase) for fx, fy, phase in waves)


def as_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


# --- TV-L1 ----------------------------------------------------------------------------------


def test_tvl1_recovers_a_subpixel_translation() -> None:
    # frame1(x) = T(x − d), so frame0(x) = frame1(x + d): flow = +d, u along columns.
    d = (0.6, -0.3)
    flow = tvl1_opencv(as_uint8(texture(96)), as_uint8(texture(96, *d)), TVL1)
    assert flow.shape == (2, 96, 96) and flow.dtype == np.float32
    interior = flow[:, 12:-12, 12:-12]
    # OpenCV's A = −0.75 cubic warp biases sub-pixel translations by up to ~0.047 px.
    np.testing.assert_allclose(np.median(interior, axis=(1, 2)), d, atol=0.05)
    assert np.percentile(np.abs(interior - np.array(d)[:, None, None]), 95) < 0.08


def test_tvl1_every_parameter_reaches_opencv() -> None:
    values = (0.2, 0.3, 0.4, 3, 2, 0.02, 7, 4, 0.6, 0.1, 3)  # every one differs from the default
    custom = dict(zip(TVL1, values, strict=True))
    solver = create_tvl1(custom)
    got = {
        "tau": solver.getTau(),
        "lambda_": solver.getLambda(),
        "theta": solver.getTheta(),
        "nscales": solver.getScalesNumber(),
        "warps": solver.getWarpingsNumber(),
        "epsilon": solver.getEpsilon(),
        "inner_iterations": solver.getInnerIterations(),
        "outer_iterations": solver.getOuterIterations(),
        "scale_step": solver.getScaleStep(),
        "gamma": solver.getGamma(),
        "median_filtering": solver.getMedianFiltering(),
    }
    assert got == pytest.approx(custom)
    assert solver.getUseInitialFlow() is False


def test_tvl1_is_deterministic_and_restores_thread_count() -> None:
    frame0, frame1 = as_uint8(texture(64)), as_uint8(texture(64, 0.5, 0.8))
    before = cv2.getNumThreads()
    first = tvl1_opencv(frame0, frame1, TVL1)
    assert cv2.getNumThreads() == before
    cv2.setNumThreads(2)
    try:
        second = tvl1_opencv(frame0, frame1, TVL1)
    finally:
        cv2.setNumThreads(before)
    np.testing.assert_array_equal(first, second)


def test_opencv_rejects_the_ipol_variant() -> None:
    with pytest.raises(ConfigError, match="torch backend"):
        create_tvl1({**TVL1, "variant": "ipol"})
    assert create_tvl1({**TVL1, "variant": "opencv"}).getScalesNumber() == 5


def test_tvl1_rejects_non_uint8_or_mismatched_frames() -> None:
    with pytest.raises(ValueError, match="uint8"):
        tvl1_opencv(np.zeros((8, 8), np.float32), np.zeros((8, 8), np.uint8), TVL1)
    with pytest.raises(ValueError, match="shape"):
        tvl1_opencv(np.zeros((8, 8), np.uint8), np.zeros((8, 9), np.uint8), TVL1)


def test_backend_registry() -> None:
    frames0, frames1 = as_uint8(texture(32))[None], as_uint8(texture(32, 0.5))[None]
    batch = backends.get("opencv").compute(frames0, frames1, TVL1, "cpu")
    np.testing.assert_array_equal(batch[0], tvl1_opencv(frames0[0], frames1[0], TVL1))
    assert backends.get("opencv").label == "opencv-contrib 5.0.0.93 DualTVL1"
    assert backends.get("torch").label.startswith("mer ")
    assert backends.choose("torch", "cpu", TVL1) == ("torch", "cpu")
    assert backends.choose("auto", "cpu", TVL1) == ("opencv", "cpu")
    assert backends.choose("auto", "cpu", {**TVL1, "variant": "ipol"}) == ("torch", "cpu")
    with pytest.raises(ValueError, match="opencv"):
        backends.get("nope")


# --- strain ---------------------------------------------------------------------------------


def affine_flow(h: int, w: int, a: float, b: float, c: float, d: float, e: float, f: float) -> np.ndarray:
    """u = a·x + b·y + c, v = d·x + e·y + f with x = column, y = row."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    return np.stack([a * x + b * y + c, d * x + e * y + f])


@pytest.mark.parametrize(
    ("coefficients", "expected"),
    [
        ((0.02, 0.0, 0.3, 0.0, 0.0, -1.0), 0.02),  # stretch along x only: ux
        ((0.0, 0.0, 0.0, 0.0, -0.03, 0.0), 0.03),  # stretch along y only: vy
        ((0.0, 0.04, 0.0, 0.0, 0.0, 0.0), np.sqrt(0.5) * 0.04),  # shear uy alone: ½(uy)²
        ((0.01, 0.02, 0.0, 0.06, -0.05, 0.0), np.sqrt(0.01**2 + 0.05**2 + 0.5 * 0.08**2)),
    ],
)
def test_strain_of_affine_flow_is_constant_and_exact(coefficients: tuple[float, ...], expected: float) -> None:
    strain = optical_strain(affine_flow(7, 9, *coefficients))
    assert strain.shape == (7, 9)
    np.testing.assert_allclose(strain, expected, rtol=1e-12, atol=1e-15)


def test_strain_of_rotation_is_zero() -> None:
    omega = 0.01
    y, x = np.mgrid[0:12, 0:10].astype(np.float64)
    rotation = np.stack([-omega * (y - 5.5), omega * (x - 4.5)])
    np.testing.assert_allclose(optical_strain(rotation), 0.0, atol=1e-15)


def test_strain_axes_are_not_swapped() -> None:
    # u = 0.1·x: ux = 0.1 gives 0.1; swapping axes would read it as uy and give 0.1·√½.
    strain = optical_strain(affine_flow(6, 6, 0.1, 0, 0, 0, 0, 0))
    np.testing.assert_allclose(strain, 0.1)


def test_strain_scheme_is_central_inside_and_one_sided_at_borders() -> None:
    # u = x²/2 along columns: central difference gives x exactly inside, one-sided 0.5 / 7.5 at the ends.
    x = np.arange(9, dtype=np.float64)
    flow = np.stack([np.tile(x**2 / 2, (3, 1)), np.zeros((3, 9))])
    np.testing.assert_allclose(optical_strain(flow)[1], [0.5, 1, 2, 3, 4, 5, 6, 7, 7.5])
    assert "central" in SCHEME and "one-sided" in SCHEME


def test_strain_keeps_float32() -> None:
    assert optical_strain(np.zeros((2, 4, 4), np.float32)).dtype == np.float32
    with pytest.raises(ValueError):
        optical_strain(np.zeros((3, 4, 4)))


# --- cache ----------------------------------------------------------------------------------

CROP_SIZE = 64
FLOW = {"backend": "opencv", "size": 48, "tvl1": TVL1}


def write_faces(path: Path) -> dict[int, np.ndarray]:
    """faces/sub01.h5 with one 64² clip (frames 10..20) whose texture drifts 0.15 px per frame."""
    grey = {n: as_uint8(texture(CROP_SIZE, 0.15 * (n - 10), -0.1 * (n - 10))) for n in range(10, 21)}
    frames = {n: np.repeat(image[..., None], 3, axis=2) for n, image in grey.items()}
    with h5.open_for_write(path) as f:
        f.attrs["dataset"], f.attrs["subject"] = "casme2", "sub01"
        group = h5.create_group(f, "EP01")
        h5.create_dataset(group, "frames", np.stack(list(frames.values())))
        h5.create_dataset(group, "frame_numbers", np.array(list(frames), dtype=np.int32))
        group.attrs["box"] = np.array([1, 2, 65, 66], dtype=np.int32)
    return frames


def keyframe_rows(onset: int = 11, apex: int = 15, offset: int = 19) -> pd.DataFrame:
    row = {"dataset": "casme2", "subject": "sub01", "clip": "EP01", "onset": onset, "apex": apex, "offset": offset}
    return pd.DataFrame([row])


def test_flow_cache_round_trip_and_identical_bytes(tmp_path: Path) -> None:
    frames = write_faces(tmp_path / "faces.h5")
    flow_subject(tmp_path / "faces.h5", keyframe_rows(), FLOW, tmp_path / "a.h5")
    flow_subject(tmp_path / "faces.h5", keyframe_rows(), FLOW, tmp_path / "b.h5")
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()

    def grey(n: int) -> np.ndarray:
        return cv2.resize(cv2.cvtColor(frames[n], cv2.COLOR_RGB2GRAY), (48, 48), interpolation=cv2.INTER_AREA)

    for kind, (first, second) in (("rise", (11, 15)), ("fall", (15, 19))):
        stored = load_flow(tmp_path / "a.h5", "EP01", kind)
        assert stored.shape == (3, 48, 48) and stored.dtype == np.float32
        uv = tvl1_opencv(grey(first), grey(second), TVL1)
        np.testing.assert_array_equal(stored[:2], uv)
        np.testing.assert_array_equal(stored[2], optical_strain(uv))
    # 4 frames × 0.15 px at 64² is 0.6 × 48/64 = 0.45 px along x at 48².
    assert np.median(load_flow(tmp_path / "a.h5", "EP01", "rise")[0, 8:-8, 8:-8]) == pytest.approx(0.45, abs=0.05)

    with h5py.File(tmp_path / "a.h5", "r") as f:
        attrs = h5.read_attrs(f["EP01"])
        assert (f.attrs["dataset"], f.attrs["subject"]) == ("casme2", "sub01")
    assert attrs["rise_frames"].tolist() == [11, 15] and attrs["fall_frames"].tolist() == [15, 19]
    assert attrs["backend"] == "opencv-contrib 5.0.0.93 DualTVL1"
    assert json.loads(attrs["tvl1"]) == TVL1
    assert attrs["strain"] == SCHEME and attrs["size"] == 48
    assert attrs["box"].tolist() == [1, 2, 65, 66] and len(attrs["input_sha256"]) == 64


def test_flow_cache_missing_frame_names_the_sample(tmp_path: Path) -> None:
    write_faces(tmp_path / "faces.h5")
    with pytest.raises(InputDataError) as info:
        flow_subject(tmp_path / "faces.h5", keyframe_rows(offset=25), FLOW, tmp_path / "out.h5")
    error = info.value
    assert (error.dataset, error.subject, error.clip, error.frame) == ("casme2", "sub01", "EP01", 25)
    assert not (tmp_path / "out.h5").exists()


def test_load_flow_errors(tmp_path: Path) -> None:
    write_faces(tmp_path / "faces.h5")
    flow_subject(tmp_path / "faces.h5", keyframe_rows(), FLOW, tmp_path / "a.h5")
    with pytest.raises(InputDataError, match="clip=EP02"):
        load_flow(tmp_path / "a.h5", "EP02", "rise")
    with pytest.raises(ValueError, match="kind"):
        load_flow(tmp_path / "a.h5", "EP01", "apex")


def test_flow_cache_torch_backend_with_instances_is_byte_identical(tmp_path: Path) -> None:
    write_faces(tmp_path / "faces.h5")
    params = {**FLOW, "backend": "torch", "device": "cpu", "instances": 3, "size": 24}
    params["tvl1"] = {**TVL1, "nscales": 2, "warps": 2, "inner_iterations": 5, "outer_iterations": 2}
    flow_subject(tmp_path / "faces.h5", keyframe_rows(), params, tmp_path / "a.h5")
    flow_subject(tmp_path / "faces.h5", keyframe_rows(), params, tmp_path / "b.h5")
    assert (tmp_path / "a.h5").read_bytes() == (tmp_path / "b.h5").read_bytes()
    instances = load_flow(tmp_path / "a.h5", "EP01", "instances")
    assert instances.shape == (3, 3, 24, 24) and instances.dtype == np.float32
    with h5py.File(tmp_path / "a.h5", "r") as f:
        attrs = h5.read_attrs(f["EP01"])
    assert attrs["instance_frames"].tolist() == [12, 16, 19]
    assert attrs["backend"].startswith("mer ") and attrs["device"] == "cpu" and attrs["code_version"]
    # instance frame 16 is not the apex (15): its flow is larger than the rise flow along x.
    assert np.median(instances[1, 0]) > np.median(load_flow(tmp_path / "a.h5", "EP01", "rise")[0])


def test_middle_frames_spacing() -> None:
    numbers = np.arange(10, 21)
    assert middle_frames(numbers, 11, 19, 3) == [12, 16, 19]
    assert middle_frames(numbers, 11, 13, 4) == [12, 12, 13, 13]
    assert middle_frames(numbers, 11, 19, 0) == []
