"""What one training job needs from the workflow: its input files and its Snakemake resources."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mer import paths
from mer.errors import ConfigError
from mer.training.inputs import input_kind, input_names

# experiments.<name>.resources defaults: a shallow network on one CPU thread; gpu 0 so a
# CPU-only job never waits for a `--resources gpu=N` slot.
DEFAULT_RESOURCES = {"mem_mb": 2000, "runtime": 30, "gpu": 0}


def input_files(experiment: dict[str, Any], subjects: Mapping[str, list[str]]) -> list[str]:
    """Flow caches and/or face crops plus keyframes.csv (as the inputs need) of every subject.

    A local pretrained file is an input too, so a workflow rule that makes it (MA2MI
    pre-training) runs first and a changed file retrains.
    """
    datasets = experiment["datasets"]
    sources = {input_kind(name).source for name in input_names(experiment)}
    files = []
    if "faces" in sources:
        files += [paths.FACES.format(dataset=d, subject=s) for d in datasets for s in subjects[d]]
        files += [paths.KEYFRAMES.format(dataset=d) for d in datasets]
    if "flow" in sources:
        files += [paths.FLOW.format(dataset=d, subject=s) for d in datasets for s in subjects[d]]
    if experiment.get("pretrained"):
        files.append(experiment["pretrained"])
    return files


def job_resources(experiment: dict[str, Any]) -> dict[str, int]:
    """mem_mb, runtime (minutes) and gpu of a training job: the defaults overridden by params."""
    return {**DEFAULT_RESOURCES, **experiment.get("resources", {})}


def check_keyframes_choice(name: str, experiment: dict[str, Any], mode: str) -> None:
    """A per-experiment `keyframes` triple only reaches face-based inputs: flow caches were computed
    at the global `keyframes.mode`, so asking flow inputs for another triple is refused."""
    choice = experiment.get("keyframes")
    if choice is None or choice == mode:
        return
    flows = [n for n in input_names(experiment) if input_kind(n).source == "flow"]
    if flows:
        raise ConfigError(
            f"experiments.{name}.keyframes is {choice!r} but keyframes.mode is {mode!r}: the flow inputs "
            f"{flows} were computed at keyframes.mode; per-experiment keyframes apply to face-based inputs only"
        )
