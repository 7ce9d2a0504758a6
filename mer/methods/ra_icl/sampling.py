"""Ra-ICL's instance sampling strategies (MIR; ablations M6–M12): which cached frames a clip contributes.

The flow cache holds a superset of instance frames per clip (params `flow.instances`: `all`,
`{stride: k}` or N evenly spaced; `mer.flow.cache`). A strategy picks from those frame numbers,
given the clip's onset, apex and offset, the instances one experiment trains and predicts on,
and a centre frame: the selected instance nearest to it is the clip's "middle instance", the
one inference uses. Windows are over frame numbers, so a strided or evenly spaced cache gives
the nearest cached frames rather than consecutive ones.

| strategy | frames taken | centre |
|---|---|---|
| middle | the N cached frames in (onset, offset] nearest the sequence middle | (onset + offset)/2 |
| apex_centred | the N nearest the apex | apex |
| all | every cached frame in (onset, offset] | (onset + offset)/2 |
| random | N drawn without replacement from (onset, offset] (seeded per clip) | (onset + offset)/2 |
| activation | the N nearest the middle of the activation phase, onset < f < apex (apex excluded) | (onset + apex)/2 |
| decay | the N nearest the middle of the decay phase, apex < f ≤ offset (apex excluded) | (apex + offset)/2 |
| evenly | N evenly spaced over the cached frames in (onset, offset] (`flow.instances: N`'s rule) | (onset + offset)/2 |

"Nearest" ranks by |frame − centre|, ties to the earlier frame; windows with fewer than N
cached frames give all they have.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mer.errors import InputDataError


@dataclass(frozen=True)
class Keyframes:
    """A clip's onset, apex and offset frame numbers."""

    onset: int
    apex: int
    offset: int


@dataclass(frozen=True)
class Selection:
    """Positions into the cached frame list, in frame order, and which of them is the middle instance."""

    positions: np.ndarray
    middle: int


# (cached frame numbers, keyframes, N, per-clip generator) → (candidate positions, centre frame)
Strategy = Callable[[np.ndarray, Keyframes, int, np.random.Generator], tuple[np.ndarray, float]]


def _in(frames: np.ndarray, low: float, high: float, high_inclusive: bool = True) -> np.ndarray:
    """Positions of the frames f with low < f ≤ high (f < high when not `high_inclusive`)."""
    upper = frames <= high if high_inclusive else frames < high
    return np.flatnonzero((frames > low) & upper)


def _nearest(frames: np.ndarray, positions: np.ndarray, centre: float, count: int) -> np.ndarray:
    """The `count` positions whose frames are nearest `centre` (ties: earlier frame, then earlier position)."""
    order = np.lexsort((positions, frames[positions], np.abs(frames[positions] - centre)))
    return positions[order[:count]]


def middle(frames: np.ndarray, keys: Keyframes, count: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """N frames around the middle of the sequence (the paper's default, M6)."""
    centre = (keys.onset + keys.offset) / 2
    return _nearest(frames, _in(frames, keys.onset, keys.offset), centre, count), centre


def apex_centred(frames: np.ndarray, keys: Keyframes, count: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """N frames around the annotated apex (M7; N = 1 is the single onset/apex instance of M1)."""
    return _nearest(frames, _in(frames, keys.onset, keys.offset), keys.apex, count), float(keys.apex)


def all_frames(frames: np.ndarray, keys: Keyframes, count: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Every cached frame after the onset up to the offset (M8); N is ignored."""
    return _in(frames, keys.onset, keys.offset), (keys.onset + keys.offset) / 2


def random_frames(
    frames: np.ndarray, keys: Keyframes, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """N frames drawn without replacement from the whole sequence (M9)."""
    window = _in(frames, keys.onset, keys.offset)
    chosen = rng.choice(window, size=min(count, len(window)), replace=False) if len(window) else window
    return chosen, (keys.onset + keys.offset) / 2


def activation(frames: np.ndarray, keys: Keyframes, count: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """N frames around the middle of the activation phase, the apex excluded (M11)."""
    centre = (keys.onset + keys.apex) / 2
    return _nearest(frames, _in(frames, keys.onset, keys.apex, high_inclusive=False), centre, count), centre


def decay(frames: np.ndarray, keys: Keyframes, count: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """N frames around the middle of the decay phase, the apex excluded (M12)."""
    centre = (keys.apex + keys.offset) / 2
    return _nearest(frames, _in(frames, keys.apex, keys.offset), centre, count), centre


def evenly(frames: np.ndarray, keys: Keyframes, count: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """N evenly spaced over the sequence: round(linspace) positions, repeating frames in short clips."""
    window = _in(frames, keys.onset, keys.offset)
    picks = np.rint(np.linspace(0, len(window) - 1, count)).astype(int) if len(window) else np.array([], dtype=int)
    return window[picks], (keys.onset + keys.offset) / 2


STRATEGIES: dict[str, Strategy] = {
    "middle": middle,
    "apex_centred": apex_centred,
    "all": all_frames,
    "random": random_frames,
    "activation": activation,
    "decay": decay,
    "evenly": evenly,
}


def select(
    frames: np.ndarray, keys: Keyframes, strategy: str, count: int, rng: np.random.Generator, where: dict[str, str]
) -> Selection:
    """The instances of one clip under `strategy`; InputDataError naming the clip when none is cached."""
    positions, centre = STRATEGIES[strategy](frames, keys, count, rng)
    if len(positions) == 0:
        raise InputDataError(
            f"no cached instance frame fits sampling {strategy!r} (onset {keys.onset}, apex {keys.apex}, "
            f"offset {keys.offset}, cached {frames.tolist()})",
            **where,
        )
    positions = positions[np.lexsort((positions, frames[positions]))]
    return Selection(positions, int(np.argmin(np.abs(frames[positions] - centre))))
