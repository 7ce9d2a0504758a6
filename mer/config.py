"""params.yaml → validated, typed configuration.

Validation uses the JSON Schema in `mer/schemas/params.schema.yaml` (also exposed to the
workflow as `workflow/schemas/params.schema.yaml`); every error names the offending key
path, e.g. ``experiments.casme2_loso_ststnet.epochs: 0 is less than the minimum of 1``.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from mer import paths
from mer.errors import ConfigError
from mer.model_keywords import check_model_kwargs
from mer.training.grid import check_tuning

SYNTHETIC_ROOT = "synthetic"
ABLATION_SEPARATOR = "__"


@cache
def schema() -> dict[str, Any]:
    """The params JSON Schema (draft 2020-12)."""
    text = resources.files("mer.schemas").joinpath("params.schema.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(part) for part in error.absolute_path) or "<top level>"


def validate(params: dict[str, Any], source: str = "params.yaml") -> None:
    """Raise ConfigError listing every schema violation with its key path."""
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"  {_key_path(e)}: {e.message}" for e in errors]
        raise ConfigError(f"{source} is invalid:\n" + "\n".join(lines))
    experiment_validator = jsonschema.Draft202012Validator({"$defs": schema()["$defs"], "$ref": "#/$defs/experiment"})
    for name, experiment in ablation_experiments(params).items():
        errors = sorted(experiment_validator.iter_errors(experiment), key=lambda e: list(map(str, e.absolute_path)))
        if errors:
            ablation, variant = name.split(ABLATION_SEPARATOR)
            lines = [f"  ablations.{ablation}.variants.{variant} (merged): {_key_path(e)}: {e.message}" for e in errors]
            raise ConfigError(f"{source} is invalid:\n" + "\n".join(lines))
    for name, experiment in all_experiments(params).items():
        check_model_kwargs(experiment["model"], experiment.get("model_kwargs", {}), f"{_where(name)}.model_kwargs")
        check_tuning(experiment, _where(name))
        for dataset in experiment["datasets"]:
            if dataset not in params["datasets"]:
                raise ConfigError(
                    f"{source} is invalid:\n  experiments.{name}.datasets: {dataset!r} is not "
                    f"one of the configured datasets {sorted(params['datasets'])}"
                )


def _where(experiment: str) -> str:
    """The params key path of an experiment: experiments.<name> or ablations.<a>.variants.<v> (merged)."""
    if ABLATION_SEPARATOR in experiment:
        ablation, variant = experiment.split(ABLATION_SEPARATOR)
        return f"ablations.{ablation}.variants.{variant} (merged)"
    return f"experiments.{experiment}"


def ablation_experiments(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The experiments of every ablation: `<ablation>__<variant>` = base deep-merged with the variant's
    `set`, in the ablation's group (so its rows never mix with the benchmark table)."""
    experiments = {}
    for ablation, spec in params.get("ablations", {}).items():
        for variant, entry in spec["variants"].items():
            experiment = deep_merge(spec["base"], entry.get("set", {}))
            experiment["group"] = ablation
            experiments[f"{ablation}{ABLATION_SEPARATOR}{variant}"] = experiment
    return experiments


def all_experiments(params: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`experiments` plus every ablation's experiments (names cannot collide: ablation names carry `__`)."""
    return {**params["experiments"], **ablation_experiments(params)}


def load(path: str | Path = "params.yaml", overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Read, deep-merge `overrides`, and validate a params file; returns the plain dict."""
    path = Path(path)
    try:
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"params file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(params, dict):
        raise ConfigError(f"{path} must hold a mapping at the top level")
    if overrides:
        params = deep_merge(params, overrides)
    validate(params, source=str(path))
    return params


def deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """A copy of `base` with `overrides` merged in recursively (mappings merge, values replace)."""
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def params_hash(section: Any) -> str:
    """Short SHA-256 of a params section in canonical JSON (recorded with every result)."""
    blob = json.dumps(section, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


@dataclass(frozen=True)
class DatasetSpec:
    """One configured corpus: registry name, where its files are, which label scheme to use."""

    name: str
    root: Path
    annotation: Path | None
    scheme: str
    synthetic: bool


def dataset_spec(params: dict[str, Any], name: str) -> DatasetSpec:
    """Resolve a dataset entry; `root: synthetic` maps to data/synthetic/<name>."""
    entry = params["datasets"][name]
    synthetic = entry["root"] == SYNTHETIC_ROOT
    root = Path(paths.SYNTHETIC_ROOT.format(dataset=name)) if synthetic else Path(entry["root"])
    annotation = entry.get("annotation")
    return DatasetSpec(
        name=name,
        root=root,
        annotation=Path(annotation) if annotation else None,
        scheme=entry["scheme"],
        synthetic=synthetic,
    )
