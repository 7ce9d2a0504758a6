"""Seeded random streams, one per (purpose, subject, clip), so every piece is reproducible alone.

A clip's random choices never depend on how many clips came before it or on the order in
which clips are generated: each draws from its own `numpy.random.Generator` keyed by the
corpus seed, a stream name and integer indices.
"""

from __future__ import annotations

import numpy as np

STREAMS = {"plan": 0, "subject": 1, "clip": 2, "motion": 3, "noise": 4, "twin": 5}


def rng(seed: int, stream: str, *indices: int) -> np.random.Generator:
    """A generator for `stream` (a key of STREAMS) at the given subject/clip indices."""
    return np.random.default_rng([seed, STREAMS[stream], *indices])
