"""What one training job needs from the workflow: its input files and its Snakemake resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mer import paths
from mer.training.inputs import input_kind

# experiments.<name>.resources defaults: a shallow network on one CPU thread; gpu 0 so a
# CPU-only job never waits for a `--resources gpu=N` slot.
DEFAULT_RESOURCES = {"mem_mb": 2000, "runtime": 30, "gpu": 0}


def input_files(experiment: dict[str, Any], subjects: Mapping[str, list[str]]) -> list[str]:
    """Flow caches, or face crops plus keyframes.csv for difference-image inputs, of every subject."""
    datasets = experiment["datasets"]
    if input_kind(experiment["input"]).source == "faces":
        faces = [paths.FACES.format(dataset=d, subject=s) for d in datasets for s in subjects[d]]
        return faces + [paths.KEYFRAMES.format(dataset=d) for d in datasets]
    return [paths.FLOW.format(dataset=d, subject=s) for d in datasets for s in subjects[d]]


def job_resources(experiment: dict[str, Any]) -> dict[str, int]:
    """mem_mb, runtime (minutes) and gpu of a training job: the defaults overridden by params."""
    return {**DEFAULT_RESOURCES, **experiment.get("resources", {})}
