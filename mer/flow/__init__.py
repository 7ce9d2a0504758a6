"""Optical flow between keyframes, optical strain, and their per-subject HDF5 cache.

`tvl1` is the batched PyTorch TV-L1 engine (OpenCV DualTVL1 semantics, any device);
`optical_strain` the one strain definition used everywhere (docs/flow.md).
"""

from mer.flow.strain import optical_strain
from mer.flow.tvl1 import TVL1Params, tvl1

__all__ = ["TVL1Params", "optical_strain", "tvl1"]
