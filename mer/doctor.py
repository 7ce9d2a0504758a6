"""`mer doctor`: prove the installation can run every stage, without network access.

facenet-pytorch is installed with --no-deps (its metadata pins torch<2.3, numpy<2,
Pillow<10.3), so this check runs MTCNN on a real photograph with the torch in use.
"""

from __future__ import annotations

from importlib import metadata

import numpy as np
from rich.console import Console
from rich.table import Table

PACKAGES = ("torch", "torchvision", "facenet-pytorch", "opencv-contrib-python-headless", "numpy", "h5py", "timm")


def _mtcnn_finds_a_face() -> str:
    import skimage.data
    from facenet_pytorch import MTCNN

    boxes, probs = MTCNN(keep_all=True, device="cpu").detect(skimage.data.astronaut())
    if boxes is None or len(boxes) != 1 or probs[0] < 0.99:
        raise RuntimeError(f"MTCNN found {0 if boxes is None else len(boxes)} faces in the astronaut photo")
    return f"1 face, p={probs[0]:.4f}"


def _tvl1_runs() -> str:
    import cv2

    frame = (np.random.default_rng(0).random((32, 32)) * 255).astype(np.uint8)
    flow = cv2.optflow.DualTVL1OpticalFlow_create().calc(frame, frame, None)
    return f"DualTVL1 ok, flow {flow.shape}"


def _torch_devices() -> str:
    import torch

    return f"cuda available: {torch.cuda.is_available()}"


CHECKS = {
    "MTCNN (facenet-pytorch) on a real photo": _mtcnn_finds_a_face,
    "OpenCV contrib TV-L1": _tvl1_runs,
    "torch devices": _torch_devices,
}


def run_checks(console: Console) -> bool:
    """Print versions and run each check; True when all pass."""
    table = Table(title="mer doctor")
    table.add_column("check")
    table.add_column("result")
    ok = True
    for name in PACKAGES:
        try:
            table.add_row(name, metadata.version(name))
        except metadata.PackageNotFoundError:
            table.add_row(name, "[red]missing[/]")
            ok = False
    for name, check in CHECKS.items():
        try:
            table.add_row(name, check())
        except Exception as exc:  # report every failed check, not only the first
            table.add_row(name, f"[red]{type(exc).__name__}: {exc}[/]")
            ok = False
    console.print(table)
    return ok
