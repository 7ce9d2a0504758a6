"""Protocols by name (params.yaml `experiments.<name>.protocol`), so new ones plug in without branching."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from mer.errors import ConfigError
from mer.protocols.folds import check_no_leakage
from mer.protocols.loso import loso_folds

ProtocolFn = Callable[[pd.DataFrame], dict[str, Any]]

PROTOCOLS: dict[str, ProtocolFn] = {"loso": loso_folds}


def make_folds(protocol: str, manifest: pd.DataFrame) -> dict[str, Any]:
    """Build the folds.json structure of `protocol` over `manifest`, leakage-checked."""
    try:
        build = PROTOCOLS[protocol]
    except KeyError:
        raise ConfigError(f"unknown protocol {protocol!r}; known protocols: {', '.join(sorted(PROTOCOLS))}") from None
    folds = build(manifest)
    check_no_leakage(folds)
    return folds
