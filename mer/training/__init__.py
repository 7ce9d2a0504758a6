"""Training: one leakage-checked, deterministic, resumable job per (experiment, seed, fold).

Names are imported lazily so that the workflow, which only needs `mer.training.jobs` at
parse time, does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"INPUTS": "mer.training.inputs", "InputSources": "mer.training.inputs", "train_fold": "mer.training.loop"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mer.training' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
