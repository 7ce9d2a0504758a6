"""The cross-dataset emotion vocabulary of the incremental benchmark (`tables/vocabulary.yaml`).

Each listed corpus's normalised emotions map onto one global emotion list (IMER's 9
emotions, in its order). A corpus emotion missing from the table is an error, so no label
can fall out of the global space unnoticed.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml

from mer.datasets import registry
from mer.errors import ConfigError

TABLE = "vocabulary.yaml"


@cache
def _table() -> dict[str, Any]:
    data = yaml.safe_load(resources.files("mer.datasets").joinpath("tables", TABLE).read_text(encoding="utf-8"))
    for dataset, mapping in data["datasets"].items():
        if set(mapping) != set(registry.get(dataset).emotions) or not set(mapping.values()) <= set(data["global"]):
            raise ValueError(f"{TABLE}: {dataset} must map exactly its emotions onto global emotions")
    return data


def global_emotions() -> tuple[str, ...]:
    """The global emotions, in label-index order."""
    return tuple(_table()["global"])


def global_emotion(dataset: str, emotion: str) -> str:
    """The global emotion of a corpus's normalised emotion."""
    mapping = _table()["datasets"].get(dataset)
    if mapping is None:
        raise ConfigError(f"{dataset!r} is not in the cross-dataset vocabulary ({', '.join(_table()['datasets'])})")
    if emotion not in mapping:
        raise ConfigError(f"{dataset}: emotion {emotion!r} is not in the cross-dataset vocabulary")
    return str(mapping[emotion])
