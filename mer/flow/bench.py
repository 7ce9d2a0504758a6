"""`mer bench flow`: speed and OpenCV parity of the torch TV-L1 engine on the same pairs.

For each size (112², 224² and flow.size) it builds `pairs` analytic-texture pairs warped by
a smooth field with a known displacement (shared reference flow.md §7.1: I0(x) = T(x + u(x)),
I1 = T, so the flow from I0 to I1 is exactly u) and measures, in fixed-iteration mode (K
iterations per warp, no median, ε = 0) and in default mode: OpenCV in one process on one
thread, OpenCV in a process pool over all cores, and the torch engine in one batch (on one thread
when on the CPU, as the single OpenCV process). Reported:
pairs/s, pixel-iterations/s (fixed mode, where the count is known), the fraction of the
60 B/px·iter memory-bandwidth model (flow.md §9) when a bandwidth is given, parity with
OpenCV and endpoint error to the ground truth. Timings are wall-clock on this machine.
"""

from __future__ import annotations

import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import torch

from mer.flow import ops, opencv
from mer.flow.tvl1 import TVL1Params, tvl1

BYTES_PER_PIXEL_ITERATION = 60.0  # one fused kernel per iteration (flow.md §9)


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


def _opencv_pair(job: tuple[np.ndarray, np.ndarray, dict[str, Any]]) -> np.ndarray:
    frame0, frame1, params = job
    return opencv.tvl1_opencv(frame0, frame1, params)


def _timed(function: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def _parity(ours: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    difference = np.abs(ours - reference)
    endpoint = np.hypot(*(ours - reference).transpose(1, 0, 2, 3))
    return {
        "mean_abs_diff_px": float(difference.mean()),
        "p99_abs_diff_px": float(np.percentile(difference, 99)),
        "within_0.1px": float((endpoint <= 0.1).mean()),
        "within_0.1px_interior4": float((endpoint[:, 4:-4, 4:-4] <= 0.1).mean()),
        "mean_endpoint_diff_px": float(endpoint.mean()),
    }


def _epe(flow: np.ndarray, truth: np.ndarray) -> float:
    return float(np.hypot(*(flow - truth).transpose(1, 0, 2, 3)).mean())


def measure(
    size: int, pairs: int, fixed_k: int, device: str, workers: int, bandwidth_gbs: float | None, seed: int
) -> dict[str, Any]:
    """All figures for one image size (see the module docstring)."""
    frames0, frames1, truth = analytic_pairs(size, pairs, 1.5, seed)
    defaults = TVL1Params().as_dict()
    fixed = {**defaults, "median_filtering": 1, "inner_iterations": 1, "outer_iterations": fixed_k, "epsilon": 0.0}
    pyramid = sum(h * w for h, w in ops.pyramid_sizes(size, size, fixed["nscales"], fixed["scale_step"]))
    pixel_iterations = pyramid * fixed["warps"] * fixed_k * pairs
    result: dict[str, Any] = {"size": size, "pairs": pairs, "fixed_k": fixed_k, "pixel_iterations": pixel_iterations}
    for mode, params in (("fixed", fixed), ("defaults", defaults)):
        jobs = [(a, b, params) for a, b in zip(frames0, frames1, strict=True)]
        reference, single = _timed(lambda: np.stack([_opencv_pair(job) for job in jobs]))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            _, pooled = _timed(lambda: np.stack(list(pool.map(_opencv_pair, jobs))))
        threads = torch.get_num_threads()
        if device == "cpu":  # the same thread count as the single OpenCV process
            torch.set_num_threads(1)
        try:
            ours, engine = _timed(lambda: tvl1(frames0, frames1, device=device, **params).cpu().numpy())
        finally:
            torch.set_num_threads(threads)
        timings = {"opencv_1proc": single, f"opencv_pool{workers}": pooled, f"torch_{device}": engine}
        entry: dict[str, Any] = {
            "seconds": timings,
            "pairs_per_s": {name: pairs / seconds for name, seconds in timings.items()},
            "parity": _parity(ours, reference),
            "epe_to_truth_px": {"opencv": _epe(reference, truth), "torch": _epe(ours, truth)},
        }
        if mode == "fixed":
            rates = {name: pixel_iterations / seconds for name, seconds in timings.items()}
            entry["pixel_iterations_per_s"] = rates
            if bandwidth_gbs:
                ceiling = bandwidth_gbs * 1e9 / BYTES_PER_PIXEL_ITERATION
                entry["fraction_of_bandwidth_model"] = rates[f"torch_{device}"] / ceiling
        result[mode] = entry
    return result


def run(
    flow: dict[str, Any], pairs: int, fixed_k: int, device: str, bandwidth_gbs: float | None, seed: int
) -> dict[str, Any]:
    """`measure` at 112², 224² and flow.size, with the machine description."""
    workers = os.cpu_count() or 1
    resolved = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    sizes = sorted({112, 224, int(flow["size"])})
    return {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": workers,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "device": torch.cuda.get_device_name() if resolved.startswith("cuda") else "cpu",
            "opencv": opencv.LABEL,
        },
        "sizes": [measure(size, pairs, fixed_k, resolved, workers, bandwidth_gbs, seed) for size in sizes],
    }


def markdown(result: dict[str, Any]) -> str:
    """One table row per size and mode: pairs/s of every runner and the parity figures."""
    lines = [
        "| size | mode | runner | pairs/s | px·iter/s | mean abs Δ vs OpenCV (px) | ≤0.1 px | EPE ours / OpenCV (px) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in result["sizes"]:
        for mode in ("fixed", "defaults"):
            block = entry[mode]
            for runner, rate in block["pairs_per_s"].items():
                pixel_rate = block.get("pixel_iterations_per_s", {}).get(runner)
                lines.append(
                    f"| {entry['size']} | {mode} | {runner} | {rate:.2f} | "
                    f"{'' if pixel_rate is None else f'{pixel_rate:.3g}'} | "
                    f"{block['parity']['mean_abs_diff_px']:.4f} | {block['parity']['within_0.1px']:.4f} | "
                    f"{block['epe_to_truth_px']['torch']:.4f} / {block['epe_to_truth_px']['opencv']:.4f} |"
                )
    return "\n".join(lines) + "\n"
