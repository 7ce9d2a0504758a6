"""`mer bench flow`: speed, OpenCV parity and ground-truth accuracy of the torch TV-L1 engine.

Three parts, all on pairs with an exact answer:

* speed and parity, at 112², 224² and flow.size: `pairs` analytic-texture pairs warped by a
  smooth 1.5-px field (shared reference flow.md §7.1: I0(x) = T(x + u(x)), I1 = T, so the
  flow from I0 to I1 is exactly u), in fixed-iteration mode (K iterations per warp, no
  median, ε = 0) and in default mode. Runners: OpenCV in one process on one thread, OpenCV
  in a process pool over all cores, and the torch engine in one batch (on one thread when on
  the CPU, like the single OpenCV process), eager and torch.compile'd (after one warm-up call
  whose cost is reported). Reported: pairs/s, pixel-iterations/s (fixed mode, where the count
  is known), the torch runners' fraction of the 60 B/px·iter memory-bandwidth model (flow.md
  §9) when a bandwidth is given, and parity with OpenCV next to OpenCV's own sensitivity:
  OpenCV against OpenCV on the same frames perturbed by ±0.001 grey levels (docs/flow.md,
  "Parity"), the floor below which a difference says nothing.
* ground truth, at 224² with OpenCV's defaults: endpoint error (EPE) to the exact flow for
  fields of 0.5, 1.5 and 4 px, for OpenCV, the torch engine and its IPOL preset; the target
  is torch ≤ OpenCV + 0.005 px.
* large displacement: the scikit-image Middlebury motorcycle stereo pair (500 × 741, ships
  with scikit-image; flow right → left is (+disparity, 0) where the disparity is known, flow.md
  §7.2), OpenCV and torch with the same settings, nscales 10 and scale_step 0.5 (OpenCV's
  5-level 0.8 pyramid cannot reach 60-px disparities: EPE ≈ 30 px); target: same EPE ± 5%.

Timings are wall-clock on this machine.
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import cv2
import numpy as np
import torch

from mer.flow import ops, opencv
from mer.flow.tvl1 import TVL1Params, tvl1

BYTES_PER_PIXEL_ITERATION = 60.0  # one fused kernel per iteration (flow.md §9)
AMPLITUDES = (0.5, 1.5, 4.0)  # px, the ground-truth fields of the issue and flow.md §8
PARITY_AMPLITUDE = 1.5
GROUND_TRUTH_SIZE = 224
EPE_MARGIN_PX = 0.005  # ours may be at most this much worse than OpenCV on exact ground truth
STEREO_SETTINGS = {"nscales": 10, "scale_step": 0.5}
STEREO_TOLERANCE = 0.05  # relative EPE difference allowed on the motorcycle pair
PERTURBATION = 1e-3  # grey levels, OpenCV's own sensitivity probe


def analytic_pairs(size: int, count: int, amplitude: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 frames0, frames1 (count, size, size) and their exact float32 flow (count, 2, size, size)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    frames0, frames1, flows = [], [], []
    for _ in range(count):
        waves = [(rng.uniform(0.02, 0.12), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)) for _ in range(6)]
        phase_u, phase_v = rng.uniform(0, 2 * np.pi, 2)
        u = amplitude * np.sin(2 * np.pi * y / size + phase_u)
        v = amplitude * np.cos(2 * np.pi * x / size + phase_v)

        def texture(xs: np.ndarray, ys: np.ndarray, waves: list[tuple[float, float, float]] = waves) -> np.ndarray:
            total = sum(np.sin(2 * np.pi * f * (np.cos(t) * xs + np.sin(t) * ys) + p) for f, t, p in waves)
            return np.clip(np.round(128 + 18 * total), 0, 255).astype(np.uint8)

        frames0.append(texture(x + u, y + v))
        frames1.append(texture(x, y))
        flows.append(np.stack([u, v]).astype(np.float32))
    return np.stack(frames0), np.stack(frames1), np.stack(flows)


def motorcycle_pair() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 grey right and left views (1, 500, 741) and the flow right → left (1, 2, 500, 741), NaN where unknown.

    scikit-image documents img_left[r, c + disp[r, c]] = img_right[r, c]; in OpenCV's convention
    frame0(x) = frame1(x + flow(x)) with frame0 = right, frame1 = left, so flow = (disp, 0).
    """
    from skimage import data

    left, right, disparity = data.stereo_motorcycle()
    grey = [cv2.cvtColor(np.ascontiguousarray(view), cv2.COLOR_RGB2GRAY)[None] for view in (right, left)]
    known = np.isfinite(disparity)
    u = np.where(known, disparity, np.nan).astype(np.float32)
    v = np.where(known, 0.0, np.nan).astype(np.float32)
    return grey[0], grey[1], np.stack([u, v])[None]


def _opencv_pair(job: tuple[np.ndarray, np.ndarray, dict[str, Any]]) -> np.ndarray:
    frame0, frame1, params = job
    return opencv.tvl1_opencv(frame0, frame1, params)


def _opencv_perturbed(frames0: np.ndarray, frames1: np.ndarray, params: dict[str, Any], seed: int) -> np.ndarray:
    """OpenCV on float frames (OpenCV multiplies them by 255) offset by uniform ±PERTURBATION grey levels."""
    rng = np.random.default_rng(seed)
    flows = []
    with opencv.single_thread():
        for frame0, frame1 in zip(frames0, frames1, strict=True):
            pair = [
                ((frame + rng.uniform(-PERTURBATION, PERTURBATION, frame.shape)) / 255).astype(np.float32)
                for frame in (frame0, frame1)
            ]
            flows.append(opencv.create_tvl1(params).calc(*pair, None).transpose(2, 0, 1))
    return np.stack(flows)


def _timed(function: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


def _torch(frames0: np.ndarray, frames1: np.ndarray, device: str, **params: Any) -> tuple[np.ndarray, float]:
    """The torch engine on all pairs in one batch, on one thread when on the CPU; flow and seconds."""
    threads = torch.get_num_threads()
    if device == "cpu":  # the same thread count as the single OpenCV process
        torch.set_num_threads(1)
    try:
        return _timed(lambda: tvl1(frames0, frames1, device=device, **params).cpu().numpy())
    finally:
        torch.set_num_threads(threads)


def _parity(ours: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """Differences between two (B, 2, H, W) flows, over whole images and without a 4-px border."""
    difference = np.abs(ours - reference)
    endpoint = np.hypot(*(ours - reference).transpose(1, 0, 2, 3))
    return {
        "mean_abs_diff_px": float(difference.mean()),
        "p99_abs_diff_px": float(np.percentile(difference, 99)),
        "p99_abs_diff_px_interior4": float(np.percentile(difference[..., 4:-4, 4:-4], 99)),
        "within_0.1px": float((endpoint <= 0.1).mean()),
        "within_0.1px_interior4": float((endpoint[:, 4:-4, 4:-4] <= 0.1).mean()),
        "mean_endpoint_diff_px": float(endpoint.mean()),
    }


def _epe(flow: np.ndarray, truth: np.ndarray) -> float:
    """Mean endpoint error over the pixels where the truth is known (finite)."""
    endpoint = np.hypot(*(flow - truth).transpose(1, 0, 2, 3))
    return float(np.nanmean(endpoint))


def compile_warmup(device: str) -> float:
    """Seconds of a first `compiled=True` call on two small pairs: the torch.compile cost (cold or
    from Inductor's on-disk cache), paid once per process; shapes are dynamic, so later sizes reuse it."""
    frames0, frames1, _ = analytic_pairs(24, 2, PARITY_AMPLITUDE, 0)
    _, seconds = _torch(frames0, frames1, device, compiled=True, nscales=1, warps=1, outer_iterations=1)
    return seconds


def measure(
    size: int,
    pairs: int,
    fixed_k: int,
    device: str,
    workers: int,
    bandwidth_gbs: float | None,
    seed: int,
    compiled: bool = False,
) -> dict[str, Any]:
    """Speed and parity figures for one image size (see the module docstring); with `compiled`
    also the torch.compile'd iteration (after `compile_warmup`) and its largest difference from eager."""
    frames0, frames1, truth = analytic_pairs(size, pairs, PARITY_AMPLITUDE, seed)
    defaults = TVL1Params().as_dict()
    fixed = {**defaults, "median_filtering": 1, "inner_iterations": 1, "outer_iterations": fixed_k, "epsilon": 0.0}
    pyramid = sum(h * w for h, w in ops.pyramid_sizes(size, size, fixed["nscales"], fixed["scale_step"]))
    pixel_iterations = pyramid * fixed["warps"] * fixed_k * pairs
    result: dict[str, Any] = {"size": size, "pairs": pairs, "fixed_k": fixed_k, "pixel_iterations": pixel_iterations}
    for mode, params in (("fixed", fixed), ("defaults", defaults)):
        jobs = [(a, b, params) for a, b in zip(frames0, frames1, strict=True)]
        reference, single = _timed(lambda jobs=jobs: np.stack([_opencv_pair(job) for job in jobs]))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            _, pooled = _timed(lambda jobs=jobs, pool=pool: np.stack(list(pool.map(_opencv_pair, jobs))))
        ours, engine = _torch(frames0, frames1, device, **params)
        perturbed = _opencv_perturbed(frames0, frames1, params, seed)
        timings = {"opencv_1proc": single, f"opencv_pool{workers}": pooled, f"torch_{device}": engine}
        extra = {}
        if compiled:
            fused, timings[f"torch_{device}_compiled"] = _torch(frames0, frames1, device, compiled=True, **params)
            extra["compiled_max_abs_diff_vs_eager_px"] = float(np.abs(fused - ours).max())
        entry: dict[str, Any] = {
            **extra,
            "seconds": timings,
            "pairs_per_s": {name: pairs / seconds for name, seconds in timings.items()},
            "parity": _parity(ours, reference),
            "opencv_self_parity": _parity(perturbed, reference),
            "epe_to_truth_px": {"opencv": _epe(reference, truth), "torch": _epe(ours, truth)},
        }
        if mode == "fixed":
            rates = {name: pixel_iterations / seconds for name, seconds in timings.items()}
            entry["pixel_iterations_per_s"] = rates
            if bandwidth_gbs:
                ceiling = bandwidth_gbs * 1e9 / BYTES_PER_PIXEL_ITERATION
                fractions = {name: rate / ceiling for name, rate in rates.items() if name.startswith("torch")}
                entry["fraction_of_bandwidth_model"] = fractions
        result[mode] = entry
    return result


def ground_truth(size: int, pairs: int, amplitudes: tuple[float, ...], device: str, seed: int) -> list[dict[str, Any]]:
    """EPE to the exact flow at OpenCV's defaults: OpenCV, torch, torch with the IPOL preset."""
    defaults = TVL1Params().as_dict()
    rows = []
    for amplitude in amplitudes:
        frames0, frames1, truth = analytic_pairs(size, pairs, amplitude, seed)
        reference = np.stack([_opencv_pair((a, b, defaults)) for a, b in zip(frames0, frames1, strict=True)])
        ours, _ = _torch(frames0, frames1, device)
        ipol, _ = _torch(frames0, frames1, device, preset="ipol")
        epe = {"opencv": _epe(reference, truth), "torch": _epe(ours, truth), "torch_ipol": _epe(ipol, truth)}
        rows.append(
            {
                "amplitude_px": amplitude,
                "size": size,
                "pairs": pairs,
                "epe_px": epe,
                "torch_within_margin": epe["torch"] <= epe["opencv"] + EPE_MARGIN_PX,
            }
        )
    return rows


def stereo(device: str) -> dict[str, Any]:
    """The motorcycle pair with STEREO_SETTINGS: EPE of OpenCV and torch, their ratio and timings."""
    frame0, frame1, truth = motorcycle_pair()
    params = {**TVL1Params().as_dict(), **STEREO_SETTINGS}
    reference, opencv_seconds = _timed(lambda: _opencv_pair((frame0[0], frame1[0], params))[None])
    ours, torch_seconds = _torch(frame0, frame1, device, **STEREO_SETTINGS)
    epe = {"opencv": _epe(reference, truth), "torch": _epe(ours, truth)}
    ratio = epe["torch"] / epe["opencv"]
    return {
        "settings": STEREO_SETTINGS,
        "shape": list(frame0.shape[1:]),
        "known_fraction": float(np.isfinite(truth[0, 0]).mean()),
        "epe_px": epe,
        "epe_ratio": ratio,
        "within_tolerance": abs(ratio - 1) <= STEREO_TOLERANCE,
        "seconds": {"opencv_1proc": opencv_seconds, f"torch_{device}": torch_seconds},
        "parity": _parity(ours, reference),
    }


def run(
    flow: dict[str, Any],
    pairs: int,
    fixed_k: int,
    device: str,
    bandwidth_gbs: float | None,
    seed: int,
    amplitudes: tuple[float, ...] = AMPLITUDES,
    large_displacement: bool = True,
) -> dict[str, Any]:
    """`measure` at 112², 224² and flow.size, `ground_truth` at 224², `stereo`, and the machine."""
    workers = os.cpu_count() or 1
    resolved = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    sizes = sorted({112, 224, int(flow["size"])})
    start = time.perf_counter()
    result: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": workers,
            "load_average": list(os.getloadavg()),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name() if resolved.startswith("cuda") else "cpu",
            "opencv": opencv.LABEL,
        },
        "compile_seconds": compile_warmup(resolved),
        "sizes": [measure(size, pairs, fixed_k, resolved, workers, bandwidth_gbs, seed, True) for size in sizes],
        "ground_truth": ground_truth(GROUND_TRUTH_SIZE, pairs, amplitudes, resolved, seed),
    }
    if large_displacement:
        result["stereo"] = stereo(resolved)
    result["wall_seconds"] = time.perf_counter() - start
    return result


def markdown(result: dict[str, Any]) -> str:
    """Tables: speed per size, mode and runner; parity next to OpenCV's own; ground truth; stereo."""
    lines = [
        f"Wall time {result['wall_seconds']:.0f} s; load average at start "
        f"{', '.join(f'{value:.2f}' for value in result['machine']['load_average'])}; "
        f"{result['machine']['cpu_count']} CPUs; device {result['machine']['device']}; "
        f"first torch.compile call {result.get('compile_seconds', float('nan')):.1f} s.",
        "",
        "| size | mode | runner | pairs/s | px·iter/s |",
        "|---|---|---|---|---|",
    ]
    for entry in result["sizes"]:
        for mode in ("fixed", "defaults"):
            block = entry[mode]
            for runner, rate in block["pairs_per_s"].items():
                pixel_rate = block.get("pixel_iterations_per_s", {}).get(runner)
                lines.append(
                    f"| {entry['size']} | {mode} | {runner} | {rate:.2f} | "
                    f"{'' if pixel_rate is None else f'{pixel_rate:.3g}'} |"
                )
    lines += [
        "",
        "| size | mode | vs | mean \\|Δ\\| | p99 \\|Δ\\| (all / no 4-px border) | ≤ 0.1 px (all / no border) "
        "| EPE to truth torch / OpenCV |",
        "|---|---|---|---|---|---|---|",
    ]
    for entry in result["sizes"]:
        for mode in ("fixed", "defaults"):
            block = entry[mode]
            comparisons = (("torch vs OpenCV", block["parity"]), ("OpenCV ±0.001", block["opencv_self_parity"]))
            for label, parity in comparisons:
                epe = block["epe_to_truth_px"]
                truth = f"{epe['torch']:.4f} / {epe['opencv']:.4f}" if label.startswith("torch") else ""
                lines.append(
                    f"| {entry['size']} | {mode} | {label} | {parity['mean_abs_diff_px']:.4f} | "
                    f"{parity['p99_abs_diff_px']:.3f} / {parity['p99_abs_diff_px_interior4']:.3f} | "
                    f"{100 * parity['within_0.1px']:.2f}% / {100 * parity['within_0.1px_interior4']:.2f}% | "
                    f"{truth} |"
                )
    lines += [
        "",
        "| amplitude (px) | size | EPE OpenCV | EPE torch | EPE torch ipol | torch ≤ OpenCV + 0.005 |",
        "|---|---|---|---|---|---|",
    ]
    for row in result["ground_truth"]:
        epe = row["epe_px"]
        lines.append(
            f"| {row['amplitude_px']} | {row['size']} | {epe['opencv']:.4f} | {epe['torch']:.4f} | "
            f"{epe['torch_ipol']:.4f} | {'yes' if row['torch_within_margin'] else 'no'} |"
        )
    if "stereo" in result:
        block = result["stereo"]
        seconds = " / ".join(f"{name} {value:.1f} s" for name, value in block["seconds"].items())
        lines += [
            "",
            "| motorcycle (settings) | EPE OpenCV | EPE torch | ratio | within ±5% | time |",
            "|---|---|---|---|---|---|",
            f"| {block['settings']} | {block['epe_px']['opencv']:.3f} | {block['epe_px']['torch']:.3f} | "
            f"{block['epe_ratio']:.4f} | {'yes' if block['within_tolerance'] else 'no'} | {seconds} |",
        ]
    return "\n".join(lines) + "\n"
