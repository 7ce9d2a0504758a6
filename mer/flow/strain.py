"""Optical strain: the magnitude of the symmetric part of the flow gradient.

One function with one documented scheme, because public MER code disagrees on axes,
difference schemes and the shear coefficient (see shared reference flow.md §6).
"""

from __future__ import annotations

import numpy as np

SCHEME = (
    "sqrt(ux^2 + vy^2 + 0.5*(uy + vx)^2); u along x = columns, v along y = rows; "
    "numpy.gradient with unit spacing: central differences (f[i+1] - f[i-1])/2 inside, "
    "one-sided first-order differences at the borders"
)


def optical_strain(flow: np.ndarray) -> np.ndarray:
    """Strain magnitude √(ux² + vy² + ½(uy + vx)²) of a (2, H, W) flow (u, v); shape (H, W).

    ux = ∂u/∂x is taken along axis 1 (columns) and uy = ∂u/∂y along axis 0 (rows), likewise
    for v. Derivatives are `numpy.gradient` with unit spacing: second-order central
    differences in the interior, first-order one-sided differences on the border rows and
    columns, so an affine flow gives its exact constant strain everywhere. The ½(uy + vx)²
    term is εxy² + εyx² with εxy = ½(uy + vx): the Frobenius norm of the strain tensor.
    The result keeps the flow's floating dtype.
    """
    flow = np.asarray(flow)
    if flow.ndim != 3 or flow.shape[0] != 2 or min(flow.shape[1:]) < 2:
        raise ValueError(f"flow must have shape (2, H, W) with H, W >= 2, got {flow.shape}")
    if not np.issubdtype(flow.dtype, np.floating):
        flow = flow.astype(np.float64)
    u, v = flow
    uy, ux = np.gradient(u)
    vy, vx = np.gradient(v)
    return np.sqrt(ux**2 + vy**2 + 0.5 * (uy + vx) ** 2)
