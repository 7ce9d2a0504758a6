"""params.yaml `incremental.<benchmark>` → a validated `Benchmark`, and each trial's `LearnerConfig`.

The JSON Schema (`mer/schemas/params.schema.yaml`, `incremental`) rejects unknown keys and
bad types; this module checks what the schema cannot: sessions are configured datasets with
a label map, learner and backbone names are registered, protocol names are unique (they
name result folders), and `settings`/`overrides` only name learners the benchmark runs.

A trial is (benchmark, protocol, backbone, learner, fold); its learner is built from the
benchmark's shared settings, then the learner's `overrides`, its `settings`, the backbone
entry, the input's channel count and the benchmark seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from mer.errors import ConfigError
from mer.incremental.labels import SessionLabels, session_labels
from mer.incremental.learner import LearnerConfig, list_learners
from mer.model_keywords import check_model_kwargs
from mer.protocols import protocol_spec
from mer.training.inputs import input_kind

# LearnerConfig fields a benchmark sets for all its learners (and `overrides` per learner).
SHARED_KEYS = ("head", "rch_aggregation", "memory", "epochs", "epochs_later", "batch_size", "lr", "weight_decay")
DEFAULT_RESOURCES = {"mem_mb": 4000, "runtime": 120, "gpu": 0}


@dataclass(frozen=True)
class BackboneSpec:
    """One backbone column of the benchmark: a registry name, its keywords and local weights."""

    name: str  # the benchmark's label (result paths, table rows)
    model: str  # mer.incremental.backbones registry name
    kwargs: dict[str, Any]
    pretrained: str | None


@dataclass(frozen=True)
class Benchmark:
    """A validated `incremental.<name>` entry."""

    name: str
    sessions: tuple[SessionLabels, ...]
    input: str
    keyframes: str | None  # keyframes.csv triple of face-based inputs; None: the one keyframes.mode chose
    input_size: int
    protocols: dict[str, dict[str, Any]]  # protocol name → {name, n_folds, seed}
    learners: tuple[str, ...]
    backbones: dict[str, BackboneSpec]
    excluded: frozenset[tuple[str, str]]  # (learner, backbone) pairs not run
    shared: dict[str, Any]  # SHARED_KEYS → values (defaults from LearnerConfig)
    settings: dict[str, dict[str, Any]]
    overrides: dict[str, dict[str, Any]]
    seed: int
    resources: dict[str, int]
    entry: dict[str, Any]  # the params entry as written, recorded with every result

    @property
    def datasets(self) -> tuple[str, ...]:
        """The sessions' datasets, in session order."""
        return tuple(session.dataset for session in self.sessions)

    def learner_config(self, learner: str, backbone: str, in_chans: int, device: str) -> LearnerConfig:
        """The LearnerConfig of one trial."""
        self.check_trial(learner=learner, backbone=backbone)
        spec = self.backbones[backbone]
        shared = {**self.shared, **self.overrides.get(learner, {})}
        return LearnerConfig(
            backbone=spec.model,
            input_size=self.input_size,
            in_chans=in_chans,
            backbone_kwargs=dict(spec.kwargs),
            pretrained=spec.pretrained,
            settings=dict(self.settings.get(learner, {})),
            seed=self.seed,
            device=device,
            **shared,
        )

    def check_trial(self, **names: str) -> None:
        """ConfigError unless each given learner/backbone/protocol name belongs to this benchmark and the
        learner × backbone pair is not excluded."""
        known = {"learner": self.learners, "backbone": tuple(self.backbones), "protocol": tuple(self.protocols)}
        for kind, name in names.items():
            if name not in known[kind]:
                raise ConfigError(f"incremental.{self.name}: {kind} {name!r} is not one of {', '.join(known[kind])}")
        if (names.get("learner"), names.get("backbone")) in self.excluded:
            raise ConfigError(f"incremental.{self.name}.exclude: {names['learner']} × {names['backbone']} is not run")

    def pairs(self) -> list[tuple[str, str]]:
        """The (backbone, learner) pairs the benchmark runs, in config order."""
        return [(b, lr) for b in self.backbones for lr in self.learners if (lr, b) not in self.excluded]


def _learner_defaults() -> dict[str, Any]:
    defaults = {f.name: f.default for f in fields(LearnerConfig)}
    return {key: defaults[key] for key in SHARED_KEYS}


def _protocols(name: str, entries: list[Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        spec = protocol_spec(entry)
        if spec["name"] in out:
            raise ConfigError(f"incremental.{name}.protocols: {spec['name']!r} is listed twice")
        out[spec["name"]] = spec
    return out


def _check_names(name: str, learners: tuple[str, ...], backbones: Mapping[str, BackboneSpec]) -> None:
    from mer.incremental.backbones import list_backbones

    registered = list_learners()
    for learner in learners:
        if learner not in registered:
            raise ConfigError(
                f"incremental.{name}.learners: unknown learner {learner!r}; known learners: {', '.join(registered)}"
            )
    known = list_backbones()
    for label, spec in backbones.items():
        if spec.model not in known:
            raise ConfigError(
                f"incremental.{name}.backbones.{label}.model: unknown backbone {spec.model!r}; "
                f"known backbones: {', '.join(known)}"
            )


def benchmark_config(params: dict[str, Any], name: str) -> Benchmark:
    """The validated benchmark `name` of a (schema-validated) params dict."""
    benchmarks = params.get("incremental", {})
    if name not in benchmarks:
        raise ConfigError(f"incremental benchmark {name!r} is not in params.yaml (have {sorted(benchmarks)})")
    entry = benchmarks[name]
    missing = [d for d in entry["sessions"] if d not in params["datasets"]]
    if missing:
        raise ConfigError(
            f"incremental.{name}.sessions: {missing} not among the configured datasets {sorted(params['datasets'])}"
        )
    classes = entry.get("classes", {})
    stray = sorted(set(classes) - set(entry["sessions"]))
    if stray:
        raise ConfigError(f"incremental.{name}.classes: {stray} are not sessions of the benchmark")
    learners = tuple(entry["learners"])
    for key in ("settings", "overrides"):
        unknown = sorted(set(entry.get(key, {})) - set(learners))
        if unknown:
            raise ConfigError(f"incremental.{name}.{key}: {unknown} are not learners of the benchmark {list(learners)}")
    backbones = {
        label: BackboneSpec(label, spec["model"], dict(spec.get("kwargs", {})), spec.get("pretrained"))
        for label, spec in entry["backbones"].items()
    }
    _check_names(name, learners, backbones)
    for label, spec in backbones.items():
        check_model_kwargs(spec.model, spec.kwargs, f"incremental.{name}.backbones.{label}.kwargs")
    excluded = frozenset((pair["learner"], pair["backbone"]) for pair in entry.get("exclude", []))
    stray_pairs = sorted((lr, b) for lr, b in excluded if lr not in learners or b not in backbones)
    if stray_pairs:
        raise ConfigError(f"incremental.{name}.exclude: {stray_pairs} name learners or backbones it does not run")
    keyframes = entry.get("keyframes")
    if keyframes not in (None, params["keyframes"]["mode"]) and input_kind(entry["input"]).source == "flow":
        raise ConfigError(
            f"incremental.{name}.keyframes is {keyframes!r} but the flow caches follow keyframes.mode "
            f"{params['keyframes']['mode']!r}; a keyframe choice applies to face-based inputs only"
        )
    shared = {**_learner_defaults(), **{key: entry[key] for key in SHARED_KEYS if key in entry}}
    return Benchmark(
        name=name,
        sessions=tuple(session_labels(d, classes.get(d)) for d in entry["sessions"]),
        input=entry["input"],
        keyframes=keyframes,
        input_size=entry["input_size"],
        protocols=_protocols(name, entry["protocols"]),
        learners=learners,
        backbones=backbones,
        excluded=excluded,
        shared=shared,
        settings={k: dict(v) for k, v in entry.get("settings", {}).items()},
        overrides={k: dict(v) for k, v in entry.get("overrides", {}).items()},
        seed=entry["seed"],
        resources={**DEFAULT_RESOURCES, **entry.get("resources", {})},
        entry=entry,
    )
