"""Ra-ICL's consistency losses between the online instance and the (flipped-back) target instance.

Target-side arguments come from the EMA network under `torch.no_grad`, already mirrored back
into the online instance's coordinates where they are spatial.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def attention_alignment(online_cam: torch.Tensor, target_cam: torch.Tensor) -> torch.Tensor:
    """L_acl: mean squared difference of the class activation maps of both instances.

    The maps are (B, classes, h, w) when every class's map is aligned, as in visual attention
    consistency under flipping (Guo et al., CVPR 2019), which IRC's flipped CAM alignment
    follows, or (B, h, w) when only the labelled class's is (`acl_maps: label`).
    """
    return F.mse_loss(online_cam, target_cam)


def assignment_alignment(online_log_assign: torch.Tensor, target_assign: torch.Tensor) -> torch.Tensor:
    """L_align = 1/HW Σ_(u,v) CrossEntropy(P_ξ(u, v), P_θ(u, v)), averaged over the batch too.

    Both are (B, Q, h, w); the target assignment is the soft label, the online one the prediction.
    """
    return -(target_assign * online_log_assign).sum(dim=1).mean()


def embedding_consistency(online: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L_c = 1/Q Σ_m (1 − cos(z_θm, z_ξm)) over (B, Q, D) region embeddings, averaged over the batch.

    The paper writes the mean cosine similarity, which the total loss must raise; 1 − cos is
    that term as a quantity to minimise (same gradient up to sign, zero when aligned).
    """
    return (1 - F.cosine_similarity(online, target, dim=-1)).mean()
