"""HDF5 writing that is byte-identical on rerun.

h5py stamps creation times into object headers by default (`track_times=True`), so two
writes of the same data differ byte-wise and DVC/Snakemake checksums change. Every dataset
and group `mer` writes goes through these helpers, which turn time tracking off.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import h5py
import numpy as np

from mer.atomic import atomic_path


@contextlib.contextmanager
def open_for_write(final: str | os.PathLike[str]) -> Iterator[h5py.File]:
    """Open a new HDF5 file under a temporary name; it replaces `final` only on success."""
    with atomic_path(final) as tmp:
        with h5py.File(tmp, "w", libver="earliest", track_order=False) as handle:
            yield handle


def create_group(parent: h5py.Group, name: str) -> h5py.Group:
    """Create a group whose header carries no timestamps."""
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    gid = h5py.h5g.create(parent.id, name.encode(), gcpl=gcpl)
    return h5py.Group(gid)


def create_dataset(parent: h5py.Group, name: str, data: np.ndarray, **kwargs: Any) -> h5py.Dataset:
    """Create a dataset without timestamps; extra keyword arguments go to h5py (compression, chunks)."""
    return parent.create_dataset(name, data=data, track_times=False, **kwargs)


def read_attrs(obj: h5py.HLObject) -> dict[str, Any]:
    """Attributes as plain Python values (bytes decoded, numpy scalars unwrapped)."""
    out: dict[str, Any] = {}
    for key, value in obj.attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out
