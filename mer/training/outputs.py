"""predictions.csv for a fold (schema in docs/architecture.md), written atomically with fixed float format."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from mer.atomic import write_csv

KEY_COLUMNS = ["dataset", "subject", "clip"]


def predictions_frame(rows: pd.DataFrame, logits: torch.Tensor) -> pd.DataFrame:
    """dataset, subject, clip, label_index, pred_index, logit_0 … logit_{C-1}, in `rows` order."""
    values = logits.detach().cpu().double().numpy()
    frame = rows[KEY_COLUMNS].reset_index(drop=True).copy()
    frame["label_index"] = rows["label_index"].astype(int).to_numpy()
    frame["pred_index"] = values.argmax(axis=1)
    for column in range(values.shape[1]):
        frame[f"logit_{column}"] = values[:, column]
    return frame


def write_predictions(path: Path, frame: pd.DataFrame) -> None:
    """Atomic CSV, '%.6g' floats, '\\n' line endings: equal predictions give equal bytes."""
    write_csv(path, frame)
