"""QC figures (matplotlib, Agg backend, fixed sizes and metadata so reruns give identical PNGs)."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mer.atomic import atomic_path  # noqa: E402

COLUMNS = 12
THUMBNAIL = 64  # contact-sheet crop side, pixels
MARKS = {"annotated": ("tab:blue", "-"), "reselected": ("tab:red", "--"), "spotted": ("tab:green", ":")}


def _save(figure: plt.Figure, path: Path, dpi: int = 80) -> None:
    """Write a PNG atomically without a creation-time stamp."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(figure)


def contact_sheet(thumbnails: list[np.ndarray], labels: list[str], path: Path) -> None:
    """A grid of uint8 RGB face crops (one per clip) titled `subject/clip [fallback]`."""
    rows = max(1, math.ceil(len(thumbnails) / COLUMNS))
    figure, axes = plt.subplots(rows, COLUMNS, figsize=(COLUMNS * 1.3, rows * 1.45), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, image, label in zip(axes.ravel(), thumbnails, labels, strict=False):
        ax.imshow(cv2.resize(image, (THUMBNAIL, THUMBNAIL), interpolation=cv2.INTER_AREA))
        ax.set_title(label, fontsize=5, color="red" if "[" in label else "black")
    figure.tight_layout(pad=0.2)
    _save(figure, path, dpi=50)  # about one screen pixel per thumbnail pixel


def apex_shifts(table: pd.DataFrame, path: Path) -> None:
    """Histograms of reselected − annotated and spotted − annotated keyframes (frames)."""
    figure, axes = plt.subplots(1, 3, figsize=(10, 2.8))
    shifts = {
        "onset: reselected − annotated": table["onset_reselected"] - table["onset_annotated"],
        "apex: reselected − annotated": table["apex_reselected"] - table["apex_annotated"],
        "apex: spotted − annotated": table["apex_spotted"] - table["apex_annotated"],
    }
    for ax, (title, values) in zip(axes, shifts.items(), strict=True):
        low, high = int(min(values.min(), -1)), int(max(values.max(), 1))
        ax.hist(values, bins=np.arange(low - 0.5, high + 1.5), color="tab:gray", edgecolor="black")
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("frames", fontsize=7)
        ax.tick_params(labelsize=6)
    axes[0].set_ylabel("samples", fontsize=7)
    figure.tight_layout()
    _save(figure, path)


def motion_curves(curves: list[tuple[str, np.ndarray, np.ndarray, dict[str, int]]], path: Path) -> None:
    """One small panel per sample: motion curve over onset … offset with the three apexes marked."""
    rows = max(1, math.ceil(len(curves) / COLUMNS))
    figure, axes = plt.subplots(rows, COLUMNS, figsize=(COLUMNS * 1.5, rows * 1.1), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (label, numbers, curve, apexes) in zip(axes.ravel(), curves, strict=False):
        ax.axis("on")
        ax.plot(numbers, curve, color="black", linewidth=0.7)
        for kind, frame in apexes.items():
            color, style = MARKS[kind]
            ax.axvline(frame, color=color, linestyle=style, linewidth=0.9)
        ax.set_title(label, fontsize=5)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [plt.Line2D([], [], color=c, linestyle=s, label=f"{k} apex") for k, (c, s) in MARKS.items()]
    figure.legend(handles=handles, loc="lower right", fontsize=7, ncol=3)
    figure.tight_layout(pad=0.2, rect=(0, 0.03 if rows > 1 else 0.12, 1, 1))
    _save(figure, path)


def flow_grid(rows: list[tuple[str, np.ndarray, np.ndarray]], legend: np.ndarray, title: str, path: Path) -> None:
    """One row per clip: rise and fall flow as uint8 RGB colour images, and the colour-wheel legend."""
    figure, axes = plt.subplots(
        len(rows),
        3,
        figsize=(4.2, 1.5 * len(rows) + 0.3),
        squeeze=False,
        gridspec_kw={"width_ratios": [1, 1, 0.8]},
        layout="constrained",
    )
    for ax in axes.ravel():
        ax.axis("off")
    for row, (label, rise, fall) in zip(axes, rows, strict=True):
        row[0].imshow(rise, interpolation="nearest")
        row[1].imshow(fall, interpolation="nearest")
        row[0].set_title(f"{label} rise", fontsize=6)
        row[1].set_title(f"{label} fall", fontsize=6)
    axes[0, 2].imshow(legend, interpolation="nearest")
    axes[0, 2].set_title("direction (+x right, +y down)", fontsize=5)
    figure.suptitle(title, fontsize=6)
    _save(figure, path, dpi=100)
