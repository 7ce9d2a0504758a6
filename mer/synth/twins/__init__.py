"""Layout twins of every registered corpus and the MEGC2019 composite (see docs/synthetic.md).

`write_twin(name, size, root, seed)` writes one corpus's twin, or for a composite one twin
per part under `root/<dataset>`; `TWINS` is the registry, `COMPOSITES` names the parts.
`mer.synth.generate` reaches them through params `synth.size` (`full` or `small`);
params `synth.frames: rendered` writes faces (`mer.synth.twin_faces`) instead of placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mer.errors import ConfigError
from mer.synth.twin_faces import FRAME_MODES, TwinFaces
from mer.synth.twins import casme2, casme3, others, samm, smic
from mer.synth.twins.engine import SIZES, Frames, TwinSpec, placeholder_frames, plan

TWINS: dict[str, TwinSpec] = {
    spec.dataset: spec
    for spec in (
        casme2.SPEC,
        samm.SPEC,
        smic.SPEC,
        casme3.A_SPEC,
        casme3.C_SPEC,
        others.SQ_SPEC,
        others.MMEW_SPEC,
        others.FDME_SPEC,
        others.CASME_SPEC,
    )
}
COMPOSITES = {"megc2019_cde": ("casme2", "samm", "smic_hs")}


def twin_subjects(name: str, size: str) -> list[str]:
    """The subject folders of a twin (of each part, for a composite)."""
    parts = COMPOSITES.get(name, (name,))
    return [subject for part in parts for subject in _spec(part).sizes[_size(size)].subjects]


def _spec(name: str) -> TwinSpec:
    if name not in TWINS:
        raise ConfigError(f"no layout twin for {name!r} (have {', '.join(sorted([*TWINS, *COMPOSITES]))})")
    return TWINS[name]


def _size(size: str) -> str:
    if size not in SIZES:
        raise ConfigError(f"twin size must be one of {', '.join(SIZES)}, got {size!r}")
    return size


def _frames(dataset: str, synth: Mapping[str, Any] | None) -> Frames:
    """Placeholder frames, or rendered faces when `synth.frames` is `rendered`."""
    mode = "placeholder" if synth is None else synth.get("frames", "placeholder")
    if mode not in FRAME_MODES:
        raise ConfigError(f"synth.frames must be one of {', '.join(FRAME_MODES)}, got {mode!r}")
    return placeholder_frames if mode == "placeholder" else TwinFaces(dataset, synth)


def write_twin(name: str, size: str, root: Path, seed: int = 0, synth: Mapping[str, Any] | None = None) -> None:
    """Write the twin of a corpus, or of each part of a composite under `root/<dataset>`,
    into the empty folder `root` (`mer.synth.generate` makes this all-or-nothing).
    `synth` (params `synth`) is read only for `frames: rendered` and the renderer's settings."""
    size = _size(size)
    parts = COMPOSITES.get(name)
    for part in parts or (name,):
        spec = _spec(part)
        frames = _frames(part, synth)
        spec.write(spec.sizes[size], plan(spec, size, seed), root / part if parts else root, frames)
