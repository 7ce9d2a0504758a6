"""Ra-ICL's input (MIR): each clip's sampled instance flows as one zero-padded tensor.

The instances come from the flow cache's `instances` superset (`mer.flow.cache.load_instances`),
chosen by a sampling strategy (`mer.methods.ra_icl.sampling`) at load time, so one cache serves
every sampling ablation. Each instance is an (u, v, strain) flow that goes through
`mer.training.data.to_model_input` alone (resize, per-channel max-abs scaling), as if it were
the single onset/apex flow of a supervised model: the paper treats every instance as an
RGB-like image of its own.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from mer.errors import InputDataError
from mer.flow.cache import load_instances
from mer.methods.ra_icl.sampling import Keyframes, select
from mer.training.data import DEFAULT_SCALING, to_model_input
from mer.training.inputs import FLOW_CHANNELS, InputSources

INPUT = "instance_flows"


def clip_generator(seed: int, dataset: str, subject: str, clip: str) -> np.random.Generator:
    """A generator fixed by (seed, clip key) alone, so a clip's random instances never depend on row order."""
    digest = hashlib.sha256(f"{seed}\t{dataset}\t{subject}\t{clip}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def instance_inputs(
    rows: pd.DataFrame,
    size: int,
    strategy: str,
    count: int,
    seed: int,
    sources: InputSources,
    scaling: str = DEFAULT_SCALING,
) -> dict[str, torch.Tensor]:
    """{"instances": (B, K, 3, size, size), "count": (B,), "middle": (B,)} for `rows`, in row order.

    Each instance is scaled on its own by SCALINGS[`scaling`]; only `none` keeps the instances'
    relative intensities, which "high-intensity instances guide low-intensity ones" is about.

    K is the largest instance count among the rows; a clip's instances fill its first `count`
    slots in frame order, the rest are zeros. `middle` is the slot of its middle instance.
    """
    sets, middles = [], []
    for dataset, subject, clip in zip(rows["dataset"], rows["subject"], rows["clip"], strict=True):
        path = Path(sources.flow(dataset, subject))
        where = {"dataset": dataset, "subject": subject, "clip": clip, "path": str(path)}
        cached = load_instances(path, clip)
        if cached.flows.shape[1] != FLOW_CHANNELS or cached.flows.shape[2] != cached.flows.shape[3]:
            raise InputDataError(f"instances flow has shape {cached.flows.shape}, expected (K, 3, S, S)", **where)
        keys = Keyframes(cached.onset, cached.apex, cached.offset)
        selection = select(cached.frames, keys, strategy, count, clip_generator(seed, dataset, subject, clip), where)
        flows = cached.flows[selection.positions]
        if not np.isfinite(flows).all():
            raise InputDataError("instances flow holds NaN or infinite values", **where)
        sets.append(torch.stack([to_model_input(flow, size, scaling) for flow in flows]))
        middles.append(selection.middle)
    slots = max((len(stack) for stack in sets), default=0)
    instances = torch.zeros(len(sets), slots, FLOW_CHANNELS, size, size)
    for index, stack in enumerate(sets):
        instances[index, : len(stack)] = stack
    return {
        "instances": instances,
        "count": torch.tensor([len(stack) for stack in sets], dtype=torch.long),
        "middle": torch.tensor(middles, dtype=torch.long),
    }


class InstanceSamples(Dataset):
    """MIR's expansion of each clip into its N instances: one training item per (clip, instance slot).

    Items are (count, instances, middle, slot, target) in `KEYS` order; the clip's whole instance
    set travels with each item so the Siamese partner can be drawn from it. The instance tensor
    is shared, not copied, so memory stays that of the clips.
    """

    KEYS = ["count", "instances", "middle", "slot"]

    def __init__(self, inputs: dict[str, torch.Tensor], targets: torch.Tensor) -> None:
        self.inputs, self.targets = inputs, targets
        counts = inputs["count"].tolist()
        self.items = [(clip, slot) for clip, n in enumerate(counts) for slot in range(n)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        clip, slot = self.items[index]
        x = self.inputs
        return x["count"][clip], x["instances"][clip], x["middle"][clip], torch.tensor(slot), self.targets[clip]
