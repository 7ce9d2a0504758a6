"""PNG figures per experiment: the seed-summed confusion matrix and per-subject accuracy.

Drawn with matplotlib's Agg backend from metrics.json alone (no retraining); PNG metadata
carries no software version or date, so equal metrics give equal bytes.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend chosen first)
import numpy as np  # noqa: E402

from mer.atomic import atomic_path  # noqa: E402

PNG_METADATA = {"Software": None}
DPI = 100


def _save(figure: Any, path: str | os.PathLike[str]) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata=PNG_METADATA)
    plt.close(figure)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(buffer.getvalue())


def confusion_figure(metrics: dict[str, Any], title: str, path: str | os.PathLike[str]) -> None:
    """Row-normalised confusion matrix summed over seeds, each cell annotated with its count."""
    counts = np.sum([entry["confusion"] for entry in metrics["per_seed"].values()], axis=0)
    totals = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    classes = metrics["classes"]
    figure, axes = plt.subplots(figsize=(1.2 * len(classes) + 2, 1.1 * len(classes) + 1.5))
    axes.imshow(share, vmin=0.0, vmax=1.0, cmap="Blues")
    for (row, column), count in np.ndenumerate(counts):
        colour = "white" if share[row, column] > 0.5 else "black"
        axes.text(column, row, f"{share[row, column]:.2f}\n({count})", ha="center", va="center", color=colour)
    axes.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"{title}\n(summed over {len(metrics['per_seed'])} seeds, rows normalised)")
    figure.tight_layout()
    _save(figure, path)


def per_subject_figure(metrics: dict[str, Any], title: str, path: str | os.PathLike[str]) -> None:
    """Accuracy of each test subject (seed mean), bars labelled with the subject's sample count."""
    subjects = metrics["per_subject"]
    names = list(subjects)
    values = [subjects[name]["accuracy"] for name in names]
    figure, axes = plt.subplots(figsize=(max(6.0, 0.3 * len(names) + 2), 4))
    bars = axes.bar(range(len(names)), values, color="tab:blue")
    for bar, name in zip(bars, names, strict=True):
        axes.text(bar.get_x() + bar.get_width() / 2, bar.get_height(), str(subjects[name]["n"]),
                  ha="center", va="bottom", fontsize=7)
    axes.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    axes.set_ylim(0.0, 1.05)
    axes.set_ylabel("accuracy (mean over seeds)")
    axes.set_title(f"{title}: per-subject accuracy (numbers: samples)")
    figure.tight_layout()
    _save(figure, path)


FIGURES = {"confusion": confusion_figure, "per_subject": per_subject_figure}
