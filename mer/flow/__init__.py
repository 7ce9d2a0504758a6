"""Optical flow between keyframes, optical strain, and their per-subject HDF5 cache.

`tvl1` is the batched PyTorch TV-L1 engine (OpenCV DualTVL1 semantics, any device);
`optical_strain` the one strain definition used everywhere (docs/flow.md); `flow_to_rgb`
and `wheel_legend` the Middlebury colour coding for figures.
"""

from mer.flow.strain import optical_strain
from mer.flow.tvl1 import TVL1Params, tvl1
from mer.flow.visualise import flow_to_rgb, wheel_legend

__all__ = ["TVL1Params", "flow_to_rgb", "optical_strain", "tvl1", "wheel_legend"]
