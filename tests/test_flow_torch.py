"""The torch TV-L1 engine against OpenCV's CPU DualTVL1, and its IPOL variant.

Targets (issue 5, shared reference flow.md §10.1): fixed-iteration mode (OpenCV median 1,
inner 1, outer K, epsilon 0) mean |Δflow| ≤ 0.01 px and p99 ≤ 0.05 px; defaults ≥ 99% of
pixels within 0.1 px (endpoint) and mean endpoint difference ≤ 0.05 px. Every rule is
OpenCV's, so one warp at one level is bit-identical; across warps OpenCV's constant-0 warp
border amplifies last-bit differences of the warp (OpenCV against itself on frames
perturbed by ±0.001 grey levels differs as much: docs/flow.md, "Parity"), so the targets
are asserted on analytic pairs and away from a 4-px border, where they hold with margin.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from mer.flow import ops, optical_strain, tvl1
from mer.flow.bench import analytic_pairs
from mer.flow.tvl1 import PRESETS, TVL1Params

RNG_SEED = 0


def face_pair(size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A real texture (scikit-image astronaut's face) and a smooth sub-pixel warp of it, uint8."""
    from skimage import data

    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)[30:230, 160:360]
    frame0 = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    map_x, map_y = x + 0.6 * np.sin(y / 15), y + 0.4 * np.cos(x / 20)
    frame1 = cv2.remap(frame0, map_x, map_y, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT)
    return frame0, frame1


def opencv_flow(frame0: np.ndarray, frame1: np.ndarray, **params: float) -> np.ndarray:
    solver = cv2.optflow.DualTVL1OpticalFlow_create(**params)
    return solver.calc(frame0, frame1, None).transpose(2, 0, 1)


# --- primitives -----------------------------------------------------------------------------


@pytest.fixture
def images() -> np.ndarray:
    return (np.random.default_rng(RNG_SEED).random((2, 37, 45)) * 255).astype(np.float32)


def test_resize_matches_opencv_pyramid_and_upsampling(images: np.ndarray) -> None:
    expected = np.stack([cv2.resize(image, None, fx=0.8, fy=0.8, interpolation=cv2.INTER_LINEAR) for image in images])
    ours = ops.resize(torch.from_numpy(images), expected.shape[1:], (1 / 0.8, 1 / 0.8)).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    assert ops.pyramid_sizes(37, 45, 5, 0.8) == [(37, 45), (30, 36), (24, 29), (19, 23)]
    small = np.ascontiguousarray(images[:, :30, :36])
    expected = np.stack([cv2.resize(image, (45, 37)) for image in small])
    np.testing.assert_allclose(ops.resize(torch.from_numpy(small), (37, 45)).numpy(), expected, atol=1e-3)


def test_remap_cubic_matches_opencv_with_zero_border(images: np.ndarray) -> None:
    rng = np.random.default_rng(RNG_SEED)
    map_x = (np.arange(45)[None, None] + rng.normal(0, 3, images.shape)).astype(np.float32)
    map_y = (np.arange(37)[None, :, None] + rng.normal(0, 3, images.shape)).astype(np.float32)
    expected = np.stack([cv2.remap(i, x, y, cv2.INTER_CUBIC) for i, x, y in zip(images, map_x, map_y, strict=True)])
    ours = ops.remap_cubic(torch.from_numpy(images)[:, None], torch.from_numpy(map_x), torch.from_numpy(map_y))
    np.testing.assert_allclose(ours[:, 0].numpy(), expected, atol=1e-4)


def test_median_matches_opencv_median_blur(images: np.ndarray) -> None:
    for size in (3, 5):
        expected = np.stack([cv2.medianBlur(image, size) for image in images])
        np.testing.assert_array_equal(ops.median(torch.from_numpy(images), size).numpy(), expected)


def test_difference_operators_follow_opencv_borders() -> None:
    field = torch.tensor([[[1.0, 2.0, 4.0], [0.0, 3.0, 9.0]]])
    dx, dy = ops.centered_gradient(field)
    assert dx.tolist() == [[[0.5, 1.5, 1.0], [1.5, 4.5, 3.0]]]
    assert dy.tolist() == [[[-0.5, 0.5, 2.5], [-0.5, 0.5, 2.5]]]
    fx, fy = ops.forward_gradient(field)
    assert fx.tolist() == [[[1.0, 2.0, 0.0], [3.0, 6.0, 0.0]]]
    assert fy.tolist() == [[[-1.0, 1.0, 5.0], [0.0, 0.0, 0.0]]]
    assert ops.divergence(field, field).tolist() == [[[2.0, 3.0, 6.0], [-1.0, 4.0, 11.0]]]


# --- engine ---------------------------------------------------------------------------------


FIXED = {"median_filtering": 1, "inner_iterations": 1, "epsilon": 0.0}


def test_one_warp_is_bit_identical_to_opencv() -> None:
    frame0, frame1 = face_pair()
    expected = opencv_flow(
        frame0, frame1, nscales=1, warps=1, medianFiltering=1, innnerIterations=1, outerIterations=30, epsilon=0.0
    )
    ours = tvl1(frame0, frame1, nscales=1, warps=1, outer_iterations=30, **FIXED)[0].numpy()
    np.testing.assert_array_equal(ours, expected)


def test_fixed_iteration_mode_meets_the_parity_targets() -> None:
    frames0, frames1, _ = analytic_pairs(112, 1, 1.5, RNG_SEED)
    fixed = {"medianFiltering": 1, "innnerIterations": 1, "outerIterations": 20, "epsilon": 0.0}
    expected = opencv_flow(frames0[0], frames1[0], **fixed)
    difference = np.abs(tvl1(frames0, frames1, outer_iterations=20, **FIXED)[0].numpy() - expected)
    assert difference.mean() <= 0.01
    assert np.percentile(difference[:, 4:-4, 4:-4], 99) <= 0.05


def test_default_mode_meets_the_parity_targets() -> None:
    frames0, frames1, _ = analytic_pairs(112, 1, 1.5, RNG_SEED)
    endpoint = np.hypot(*(tvl1(frames0, frames1)[0].numpy() - opencv_flow(frames0[0], frames1[0])))
    assert endpoint.mean() <= 0.05
    assert (endpoint[4:-4, 4:-4] <= 0.1).mean() >= 0.99


def test_pairs_are_independent_of_their_batch() -> None:
    pairs = [face_pair(), tuple(np.ascontiguousarray(frame[:, ::-1]) for frame in face_pair())]
    frames0, frames1 = (np.stack(side) for side in zip(*pairs, strict=True))
    fewer = {"nscales": 3, "warps": 2, "outer_iterations": 3}  # still long enough for the pairs to stop apart
    batch = tvl1(frames0, frames1, **fewer)
    assert batch.shape == (2, 2, 64, 64) and batch.dtype == torch.float32
    for index, (frame0, frame1) in enumerate(pairs):
        torch.testing.assert_close(batch[index], tvl1(frame0, frame1, **fewer)[0], rtol=0, atol=1e-5)


def test_engine_recovers_translation_in_opencv_convention() -> None:
    y, x = np.mgrid[0:48, 0:48].astype(np.float64)

    def image(dx: float) -> np.ndarray:
        return np.clip(128 + 50 * np.sin(0.3 * (x - dx)) * np.cos(0.23 * y), 0, 255)

    flow = tvl1(torch.tensor(image(0.0)), torch.tensor(image(0.6)))[0]
    assert flow[0, 12:-12, 12:-12].median().item() == pytest.approx(0.6, abs=0.05)
    assert flow[1, 12:-12, 12:-12].abs().median().item() < 0.05


def test_engine_rejects_bad_input_and_parameters() -> None:
    with pytest.raises(ValueError, match="shape"):
        tvl1(np.zeros((8, 8), np.uint8), np.zeros((8, 9), np.uint8))
    with pytest.raises(ValueError, match="uint8 or float"):
        tvl1(np.zeros((8, 8), np.int32), np.zeros((8, 8), np.int32))
    with pytest.raises(ValueError, match="gamma"):
        TVL1Params(gamma=0.1)
    with pytest.raises(TypeError, match="unknown"):
        tvl1(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), lambda_typo=1.0)
    with pytest.raises(ValueError, match="variant"):
        TVL1Params(variant="brox")
    with pytest.raises(ValueError, match="preset"):
        tvl1(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), preset="farneback")


@pytest.mark.slow  # the first torch.compile takes about 40 s on 2 cores (cached on disk afterwards)
def test_compiled_iteration_gives_the_eager_flow() -> None:
    frames0, frames1, _ = analytic_pairs(32, 2, 1.5, RNG_SEED)
    fewer = {"nscales": 2, "warps": 2, "outer_iterations": 2}
    eager = tvl1(frames0, frames1, **fewer)
    np.testing.assert_array_equal(tvl1(frames0, frames1, compiled=True, **fewer).numpy(), eager.numpy())


# --- IPOL variant ---------------------------------------------------------------------------


def test_ipol_preset_holds_the_ipol_program_defaults() -> None:
    settings = TVL1Params.from_mapping({}, "ipol")
    assert (settings.variant, settings.nscales, settings.scale_step, settings.warps) == ("ipol", 100, 0.5, 5)
    assert (settings.tau, settings.lambda_, settings.theta, settings.epsilon) == (0.25, 0.15, 0.3, 0.01)
    assert settings.inner_iterations * settings.outer_iterations == 300 and settings.median_filtering == 1
    assert TVL1Params.from_mapping({"warps": 2}, "ipol").warps == 2
    assert set(PRESETS) == {"opencv", "ipol"} and TVL1Params.from_mapping({}) == TVL1Params()


def test_ipol_pyramid_follows_the_size_cap_of_main_c() -> None:
    # shared reference flow.md §3: 224² gives N = 5.3, so 5 scales
    assert ops.ipol_pyramid_sizes(224, 224, 100, 0.5) == [(224, 224), (112, 112), (56, 56), (28, 28), (14, 14)]
    # hypot(45, 37) / 16 = 3.6: N = 2.9, so 2 scales; int(22.5 + 0.5) = 23
    assert ops.ipol_pyramid_sizes(37, 45, 100, 0.5) == [(37, 45), (19, 23)]
    assert ops.ipol_pyramid_sizes(224, 224, 3, 0.5)[-1] == (56, 56)


def test_ipol_bicubic_reproduces_quadratics_and_zeroes_the_warp_border() -> None:
    y, x = torch.meshgrid(torch.arange(10.0), torch.arange(12.0), indexing="ij")
    quadratic = (0.3 * x**2 + 0.2 * x * y - 0.1 * y**2 + 3)[None, None]
    map_x, map_y = (x + 0.37)[None], (y + 0.61)[None]
    exact = (0.3 * map_x**2 + 0.2 * map_x * map_y - 0.1 * map_y**2 + 3)[0, 1:-2, 1:-2]
    keys = ops.ipol_bicubic(quadratic, map_x, map_y, border_out=False)[0, 0, 1:-2, 1:-2]
    torch.testing.assert_close(keys, exact, rtol=0, atol=1e-4)  # Keys a = −0.5 is exact on quadratics
    assert (ops.remap_cubic(quadratic, map_x, map_y)[0, 0, 1:-2, 1:-2] - exact).abs().max() > 0.1  # A = −0.75 is not
    image = torch.rand(1, 1, 10, 12, generator=torch.Generator().manual_seed(RNG_SEED)) * 255
    warped = ops.ipol_bicubic(image, x[None], y[None], border_out=True)[0, 0]
    torch.testing.assert_close(warped[1:-2, 1:-2], image[0, 0, 1:-2, 1:-2], rtol=0, atol=0)
    ring = torch.ones_like(warped, dtype=torch.bool)
    ring[1:-2, 1:-2] = False
    assert warped[ring].abs().max() == 0  # first row and column, last two rows and columns


def test_ipol_gaussian_normalisation_and_its_asymmetric_reflection(images: np.ndarray) -> None:
    sigma, half = 0.8, 4  # int(5·0.8) + 1 = 5 taps per side, centre included
    taps = np.exp(-np.arange(half + 1) ** 2 / (2 * sigma**2))
    kernel = np.concatenate([taps[:0:-1], taps]) / (2 * taps.sum() - taps[0])
    rows = np.pad(images.astype(np.float64), ((0, 0), (0, 0), (half, half)), mode="reflect")  # left: −k reads k
    rows[..., -half:] = images[..., ::-1][..., :half]  # right: n−1+k reads n−k (edge repeated)
    expected = np.stack([[np.convolve(row, kernel, mode="valid") for row in image] for image in rows])
    smoothed_rows = ops._ipol_smooth_last(torch.from_numpy(images), ops._ipol_kernel(sigma)).numpy()
    np.testing.assert_allclose(smoothed_rows, expected, rtol=0, atol=1e-3)
    constant = torch.full((1, 20, 20), 7.0)
    torch.testing.assert_close(ops.ipol_gaussian(constant, sigma), constant, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="at least"):
        ops.ipol_gaussian(torch.zeros(1, 4, 40), sigma)


def test_ipol_normalises_both_frames_jointly() -> None:
    frame0 = torch.tensor([[[10.0, 100.0]]])
    frame1 = torch.tensor([[[20.0, 200.0]]])
    normal0, normal1 = ops.ipol_normalise(frame0, frame1)
    torch.testing.assert_close(normal0, torch.tensor([[[0.0, 255 * 90 / 190]]]))
    torch.testing.assert_close(normal1, torch.tensor([[[255 * 10 / 190, 255.0]]]))
    flat = torch.full((1, 2, 2), 9.0)
    assert torch.equal(ops.ipol_normalise(flat, flat)[0], flat)


def test_ipol_preset_recovers_a_translation_with_less_bias_than_opencv() -> None:
    y, x = np.mgrid[0:64, 0:64].astype(np.float64)
    waves = [(0.05, 0.02, 0.3), (0.013, 0.07, 1.1), (0.09, -0.04, 2.0), (-0.03, 0.11, 0.7)]

    def image(dx: float, dy: float) -> np.ndarray:
        phase = [2 * np.pi * (fx * (x - dx) + fy * (y - dy)) + p for fx, fy, p in waves]
        return np.clip(np.round(128 + 40 * sum(np.sin(value) for value in phase)), 0, 255).astype(np.uint8)

    frame0, frame1, shift = image(0, 0), image(0.6, -0.3), np.array([0.6, -0.3])[:, None, None]
    flows = {"ipol": tvl1(frame0, frame1, preset="ipol")[0].numpy(), "opencv": opencv_flow(frame0, frame1)}
    errors = {name: np.hypot(*(flow - shift))[12:-12, 12:-12].mean() for name, flow in flows.items()}
    assert errors["ipol"] < 0.025 and errors["ipol"] < errors["opencv"] / 2


def test_bench_parts_run_and_tabulate() -> None:
    from mer.flow import bench

    sizes = [bench.measure(24, 1, 2, "cpu", 1, 1000.0, RNG_SEED)]
    truth = bench.ground_truth(24, 1, (0.5,), "cpu", RNG_SEED)
    result = {"machine": {"load_average": [0.0, 0.0, 0.0], "cpu_count": 1, "device": "cpu"}, "wall_seconds": 1.0}
    table = bench.markdown({**result, "sizes": sizes, "ground_truth": truth})
    assert sizes[0]["fixed"]["fraction_of_bandwidth_model"]["torch_cpu"] > 0
    assert set(truth[0]["epe_px"]) == {"opencv", "torch", "torch_ipol"}
    assert "| 24 | fixed | torch vs OpenCV |" in table and "| 0.5 | 24 |" in table and "OpenCV ±0.001" in table


def test_motorcycle_flow_runs_right_to_left_along_plus_disparity() -> None:
    from mer.flow.bench import motorcycle_pair

    right, left, truth = motorcycle_pair()
    known = np.isfinite(truth[0, 0])
    assert right.shape == (1, 500, 741) and 0.9 < known.mean() < 0.95 and np.all(truth[0, 1][known] == 0)
    y, x = np.mgrid[0:500, 0:741].astype(np.float32)
    disparity = np.where(known, truth[0, 0], 0).astype(np.float32)
    residual = {
        sign: np.abs(cv2.remap(left[0], x + sign * disparity, y, cv2.INTER_LINEAR).astype(float) - right[0])[known]
        for sign in (1, -1)
    }
    assert np.median(residual[1]) < 5 < np.median(residual[-1])


# --- strain ---------------------------------------------------------------------------------


def test_torch_strain_of_batched_affine_flows_is_exact() -> None:
    y, x = torch.meshgrid(torch.arange(9.0), torch.arange(11.0), indexing="ij")
    a, b, c, d = 0.02, -0.01, 0.03, 0.05  # u = a x + b y, v = c x + d y
    flows = torch.stack([torch.stack([a * x + b * y, c * x + d * y]), torch.stack([-0.1 * y, 0.1 * x])])
    strain = optical_strain(flows)
    assert strain.shape == (2, 9, 11)
    expected = (a**2 + d**2 + 0.5 * (b + c) ** 2) ** 0.5
    torch.testing.assert_close(strain[0], torch.full((9, 11), expected), rtol=0, atol=1e-6)
    torch.testing.assert_close(strain[1], torch.zeros(9, 11), rtol=0, atol=1e-6)
    np.testing.assert_allclose(optical_strain(flows[0].numpy()), strain[0].numpy(), rtol=0, atol=1e-7)
