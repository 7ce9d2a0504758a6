"""Ra-ICL (Region-Aware Instance Consistency Learning, CVPR 2026); importing it registers method `ra_icl`.

Modules: `sampling` (which cached instances a clip contributes), `data` (the padded instance
tensors), `flip` (mirroring flows and maps), `network` (online/target branches, CAMs, facial
queries), `losses` (L_acl, L_align, L_c) and `method` (the `Method` that ties them together).
"""

from mer.methods.ra_icl.method import RaICL, Settings

__all__ = ["RaICL", "Settings"]
