"""Synthetic corpus presets by dataset name, and the all-or-nothing generation of a corpus.

A corpus is rendered into a temporary folder beside its destination and renamed into place
only when complete, so a crash never leaves a half corpus that looks finished; an existing
corpus is replaced only after the new one succeeded.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mer.errors import ConfigError
from mer.synth import casme2, macro, twins


def _synth_section(params: dict[str, Any]) -> dict[str, Any]:
    return params["synth"]


@dataclass(frozen=True)
class Preset:
    """How to name the subjects of, and write, one dataset's synthetic twin (from its settings).

    `settings` picks the preset's settings out of params (default: params['synth']).
    """

    subjects: Callable[[dict[str, Any]], list[str]]
    write: Callable[[dict[str, Any], Path], None]
    settings: Callable[[dict[str, Any]], dict[str, Any]] = _synth_section


def _twin(name: str) -> Preset:
    """A layout twin as a preset; its size is `synth.size` (default `small`)."""
    return Preset(
        subjects=lambda synth: twins.twin_subjects(name, synth.get("size", "small")),
        write=lambda synth, root: twins.write_twin(name, synth.get("size", "small"), root, synth["seed"], synth),
    )


# CASME II renders faces unless `synth.size` asks for its layout twin; every other corpus
# (and the MEGC2019 composite, one twin per part) has a layout twin only. `macro` renders
# macro-expression videos for MA2MI pre-training from params `pretrain.synth`.
LAYOUT_TWINS = (*twins.TWINS, *twins.COMPOSITES)
PRESETS: dict[str, Preset] = {
    casme2.DATASET: Preset(subjects=casme2.subjects, write=casme2.write),
    **{name: _twin(name) for name in LAYOUT_TWINS if name != casme2.DATASET},
    macro.DATASET: Preset(subjects=macro.subjects, write=macro.write, settings=macro.settings),
}


def _preset(dataset: str, synth: dict[str, Any]) -> Preset:
    if dataset not in PRESETS:
        raise ConfigError(f"no synthetic preset for dataset {dataset!r} (have {sorted(PRESETS)})")
    return _twin(dataset) if "size" in synth and dataset in LAYOUT_TWINS else PRESETS[dataset]


def planned_subjects(dataset: str, params: dict[str, Any]) -> list[str]:
    """Subject folder names `generate` will create, without generating anything."""
    preset = _preset(dataset, params["synth"])
    return preset.subjects(preset.settings(params))


def generate(dataset: str, params: dict[str, Any], out_root: Path) -> None:
    """Write the synthetic twin of `dataset` to `out_root` (replacing it) from its preset's settings."""
    preset = _preset(dataset, params["synth"])
    settings = preset.settings(params)
    out_root = Path(out_root)
    out_root.parent.mkdir(parents=True, exist_ok=True)
    staging = out_root.with_name(f".{out_root.name}.tmp-{os.getpid()}")
    retired = out_root.with_name(f".{out_root.name}.old-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        preset.write(settings, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out_root.exists():
        os.replace(out_root, retired)
    os.replace(staging, out_root)
    shutil.rmtree(retired, ignore_errors=True)
