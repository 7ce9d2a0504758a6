"""Seeding, deterministic kernels, thread count and device for one training job.

Two training jobs may share a 2-core machine, so torch uses one thread unless told
otherwise (argument, then the MER_THREADS environment variable). Deterministic algorithms
are switched on so that a seed fixes the predictions bit for bit on a given machine.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

THREADS_ENV = "MER_THREADS"
DEVICE_ENV = "MER_DEVICE"


def resolve_threads(threads: int | None) -> int:
    """The argument if given, else $MER_THREADS, else 1."""
    value = threads if threads is not None else int(os.environ.get(THREADS_ENV, "1"))
    if value < 1:
        raise ValueError(f"threads must be at least 1, got {value}")
    return value


def resolve_device(device: str | None) -> torch.device:
    """The argument if given, else $MER_DEVICE, else CUDA when available, else the CPU."""
    name = device or os.environ.get(DEVICE_ENV) or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


@contextlib.contextmanager
def seeded_runtime(seed: int, threads: int) -> Iterator[None]:
    """Seed Python, NumPy and torch, force deterministic kernels and set the thread count.

    The deterministic flag, cuDNN autotuning and the thread count are process-wide; they are
    restored on exit so that a caller running other work in the same process is unaffected.
    """
    # cuBLAS reads this before its first call; deterministic mode refuses to run without it.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    saved = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark, torch.get_num_threads())
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(saved[0])
        torch.backends.cudnn.benchmark = saved[1]
        torch.set_num_threads(saved[2])


def shuffle_generator(seed: int) -> torch.Generator:
    """The CPU generator that orders training batches, separate from the weight-init stream."""
    return torch.Generator().manual_seed(seed)
