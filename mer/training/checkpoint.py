"""Per-epoch checkpoints so an interrupted fold resumes and ends with the same predictions.

A checkpoint holds everything the remaining epochs depend on: weights, optimizer moments,
the batch-order generator, torch's global RNG (dropout), the epoch reached and the loss
history. A fingerprint of what determines training (experiment without its epoch budget
and seed list, fold, seed, classes, training sample keys, the bytes of the training inputs
and labels, device type) decides whether a checkpoint found on disk may be resumed; a
stale one is ignored, never trusted.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from mer.atomic import atomic_path

FORMAT = 1


def save(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Write `state` atomically (temporary name, then rename)."""
    with atomic_path(path) as tmp:
        torch.save({"format": FORMAT, **state}, tmp)


def load_resumable(
    path: str | os.PathLike[str], fingerprint: dict[str, Any], max_epoch: int
) -> tuple[dict[str, Any] | None, str]:
    """The checkpoint at `path` if it matches `fingerprint` and is not past `max_epoch`.

    Returns (state or None, reason) where reason says why nothing was resumed.
    """
    path = Path(path)
    if not path.is_file():
        return None, "no checkpoint"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file must not stop a fresh start
        return None, f"unreadable checkpoint ({type(exc).__name__})"
    if state.get("format") != FORMAT:
        return None, "checkpoint format differs"
    if state.get("fingerprint") != fingerprint:
        return None, "checkpoint belongs to a different configuration"
    if state["epoch"] > max_epoch:
        return None, f"checkpoint is at epoch {state['epoch']}, past the budget of {max_epoch}"
    return state, f"resumed after epoch {state['epoch']}"
