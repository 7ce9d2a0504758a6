"""Shared fixtures: offline hub, the repository root, and a tiny params dict."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from mer import config

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DVC_NO_ANALYTICS", "1")

REPO = Path(__file__).resolve().parents[1]

# A corpus small enough for a full pipeline run in about a minute on two cores.
TINY = {
    "synth": {
        "subjects": 3,
        "clips_per_subject": 4,
        "frame_size": [240, 200],
        "face_size": 120,
        "onset_to_apex_frames": [5, 7],
        "apex_to_offset_frames": [5, 7],
        "lead_frames": 1,
    },
    "crop": {"size": 64},
    "flow": {"size": 48},
    "experiments": {"casme2_loso_ststnet": {"epochs": 3, "input_size": 28}},
}


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture
def tiny_params() -> dict[str, Any]:
    """params.yaml with the tiny-corpus overrides merged in (validated)."""
    params = config.deep_merge(config.load(REPO / "params.yaml"), TINY)
    config.validate(params)
    return params
