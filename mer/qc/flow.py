"""Per-dataset flow QC figure: rise and fall flow of a few clips in the Middlebury colour code.

Runs after the flow stage (it reads the per-subject flow caches), separately from the
preprocessing QC report, which runs before flow exists. The clips are spread evenly over the
keyframes table (subject, clip order), so the choice is deterministic. All panels share one
normalising radius, the largest 99th-percentile magnitude among the shown flows, so colours
compare across clips; the figure title states it in pixels at flow.size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mer.errors import InputDataError
from mer.flow.cache import load_flow
from mer.flow.visualise import flow_to_rgb, wheel_legend
from mer.qc import figures

CLIPS = 6  # rows of the figure
SATURATION_PERCENTILE = 99.0


def pick_clips(keyframes: pd.DataFrame, count: int = CLIPS) -> pd.DataFrame:
    """`count` rows spread evenly over the table sorted by (subject, clip); all rows when fewer."""
    ordered = keyframes.sort_values(["subject", "clip"], kind="stable").reset_index(drop=True)
    if len(ordered) <= count:
        return ordered
    return ordered.iloc[np.unique(np.linspace(0, len(ordered) - 1, count).round().astype(int))]


def build_flow_qc(dataset: str, keyframes: pd.DataFrame, flow_dir: Path, out_path: Path, count: int = CLIPS) -> float:
    """Write the flow QC PNG for `dataset` to `out_path`; return the shared normalising radius (px)."""
    if keyframes.empty:
        raise InputDataError("the keyframes table has no samples", dataset=dataset)
    flows = []
    for row in pick_clips(keyframes, count).itertuples(index=False):
        path = Path(flow_dir) / f"{row.subject}.h5"
        if not path.is_file():
            raise InputDataError("flow cache not found", dataset=dataset, subject=str(row.subject), path=str(path))
        rise, fall = (load_flow(path, str(row.clip), kind)[:2] for kind in ("rise", "fall"))
        flows.append((f"{row.subject}/{row.clip}", rise, fall))
    magnitudes = [np.hypot(*flow) for _, rise, fall in flows for flow in (rise, fall)]
    radius = max(float(np.percentile(magnitude, SATURATION_PERCENTILE)) for magnitude in magnitudes)
    radius = radius if radius > 0 else 1.0
    rows = [(label, flow_to_rgb(rise, radius), flow_to_rgb(fall, radius)) for label, rise, fall in flows]
    title = f"{dataset}: TV-L1 flow, Middlebury colours, full saturation at {radius:.2f} px"
    figures.flow_grid(rows, wheel_legend(), title, Path(out_path))
    return radius
