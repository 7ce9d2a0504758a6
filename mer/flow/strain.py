"""Optical strain: the magnitude of the symmetric part of the flow gradient.

One function with one documented scheme, because public MER code disagrees on axes,
difference schemes and the shear coefficient (see shared reference flow.md §6).
"""

from __future__ import annotations

from typing import overload

import numpy as np
import torch

SCHEME = (
    "sqrt(ux^2 + vy^2 + 0.5*(uy + vx)^2); u along x = columns, v along y = rows; "
    "numpy.gradient with unit spacing: central differences (f[i+1] - f[i-1])/2 inside, "
    "one-sided first-order differences at the borders"
)


@overload
def optical_strain(flow: np.ndarray) -> np.ndarray: ...


@overload
def optical_strain(flow: torch.Tensor) -> torch.Tensor: ...


def optical_strain(flow: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Strain magnitude √(ux² + vy² + ½(uy + vx)²) of a (..., 2, H, W) flow (u, v); shape (..., H, W).

    Accepts a numpy array (returned as numpy) or a torch tensor on any device (returned on
    it), batched or not. ux = ∂u/∂x is taken along the last axis (columns) and uy = ∂u/∂y
    along the one before (rows), likewise for v. Derivatives follow `numpy.gradient` with
    unit spacing: second-order central differences in the interior, first-order one-sided
    differences on the border rows and columns, so an affine flow gives its exact constant
    strain everywhere. The ½(uy + vx)² term is εxy² + εyx² with εxy = ½(uy + vx): the
    Frobenius norm of the strain tensor. Floating dtypes are kept; others become float64.
    """
    is_numpy = not isinstance(flow, torch.Tensor)
    tensor = torch.from_numpy(np.asarray(flow)) if is_numpy else flow
    if tensor.ndim < 3 or tensor.shape[-3] != 2 or min(tensor.shape[-2:]) < 2:
        raise ValueError(f"flow must have shape (..., 2, H, W) with H, W >= 2, got {tuple(tensor.shape)}")
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float64)
    u, v = tensor.unbind(-3)
    uy, ux = torch.gradient(u, dim=(-2, -1))
    vy, vx = torch.gradient(v, dim=(-2, -1))
    strain = torch.sqrt(ux.square() + vy.square() + 0.5 * (uy + vx).square())
    return strain.numpy() if is_numpy else strain
