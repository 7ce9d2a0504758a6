"""Training pairs (I_t, I_{t+δ}) of macro-expression videos and their network inputs.

Every pair is drawn from a seeded `torch.Generator`: δ uniformly from the integers in
[δ_min, δ_max] (the paper's Fig. 4 ranges), the video uniformly from those longer than
δ_max frames, and t uniformly from the frames that have a frame δ later. Inputs are scaled
exactly as the pipeline scales fine-tuning inputs (`mer.training.data.to_model_input`): the
reference frame I_t per channel by its maximum (as `onset_frame`), the change I_{t+δ} − I_t
per channel by its maximum absolute value (as `rise_diff`). The target I_{t+δ} shares the
reference's scale, so "no change" means target = reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mer.errors import InputDataError
from mer.training.data import to_model_input


@dataclass(frozen=True)
class Frames:
    """The face frames of every kept video in one uint8 tensor (N, 3, S, S), with each video's first index."""

    frames: torch.Tensor
    starts: torch.Tensor  # (V,) index of each video's first frame in `frames`
    lengths: torch.Tensor  # (V,) frame count of each video

    @classmethod
    def stack(cls, videos: list[np.ndarray]) -> Frames:
        """From (T, S, S, 3) uint8 arrays, one per video."""
        lengths = torch.tensor([len(v) for v in videos], dtype=torch.long)
        starts = torch.cumsum(lengths, 0) - lengths
        frames = torch.from_numpy(np.concatenate(videos)).permute(0, 3, 1, 2).contiguous()
        return cls(frames=frames, starts=starts, lengths=lengths)


def long_enough(lengths: list[int], delta: tuple[int, int]) -> list[int]:
    """Indices of the videos with more than δ_max frames (every δ of the range fits in them)."""
    kept = [i for i, n in enumerate(lengths) if n > delta[1]]
    if not kept:
        raise InputDataError(f"no video has more than δ_max = {delta[1]} frames (longest: {max(lengths)})")
    return kept


def draw_pairs(lengths: torch.Tensor, count: int, delta: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    """(count, 3) long tensor of (video, t, δ); every video must be longer than δ_max frames."""
    d = torch.randint(delta[0], delta[1] + 1, (count,), generator=generator)
    video = torch.randint(0, len(lengths), (count,), generator=generator)
    u = torch.rand(count, generator=generator, dtype=torch.float64)
    start = torch.floor(u * (lengths[video] - d).to(torch.float64)).to(torch.long)
    return torch.stack([video, start, d], dim=1)


def pair_inputs(frames: Frames, pairs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(reference, change, target) float32 (B, 3, S, S) for pairs of `draw_pairs`."""
    first = frames.starts[pairs[:, 0]] + pairs[:, 1]
    now = frames.frames[first].to(torch.float32)
    later = frames.frames[first + pairs[:, 2]].to(torch.float32)
    scale = now.amax(dim=(2, 3), keepdim=True)
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))
    size = now.shape[-1]
    change = torch.stack([to_model_input((b - a).numpy(), size) for a, b in zip(now, later, strict=True)])
    return now / scale, change, later / scale
