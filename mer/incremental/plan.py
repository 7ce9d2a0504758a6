"""The incremental benchmarks' workflow fan-out: trials, their inputs and outputs, decided at parse time.

One job per trial (benchmark, protocol, backbone, learner, fold), every name validated by
`mer.incremental.config.benchmark_config`; one table per benchmark from all its trials. The
`imer` target runs them; the default `all` target does not (docs/imer.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mer import paths
from mer.incremental.config import benchmark_config
from mer.training.jobs import input_files

RESULT = "results/incremental/{benchmark}/{protocol}/{backbone}/{learner}/fold-{fold}.json"
LOG = "logs/incremental/{benchmark}/{protocol}/{backbone}/{learner}/fold-{fold}.log"
TABLE = "results/tables/imer_{benchmark}.{ext}"
TABLE_EXTENSIONS = ("md", "csv")
COUNTS = "results/tables/imer_{benchmark}.counts.csv"


@dataclass(frozen=True)
class Trial:
    """One incremental job."""

    benchmark: str
    protocol: str
    backbone: str
    learner: str
    fold: int

    @property
    def path(self) -> str:
        """Where the trial's result JSON goes."""
        return RESULT.format(**self.__dict__)


def benchmarks(params: dict[str, Any]) -> list[str]:
    """The params file's incremental benchmarks, sorted."""
    return sorted(params.get("incremental", {}))


def trials(params: dict[str, Any], benchmark: str) -> list[Trial]:
    """Every trial of `benchmark`: protocols × (backbone, learner) pairs not excluded × folds, in config order."""
    bench = benchmark_config(params, benchmark)
    return [
        Trial(benchmark, protocol, backbone, learner, fold)
        for protocol, spec in bench.protocols.items()
        for backbone, learner in bench.pairs()
        for fold in range(spec["n_folds"])
    ]


def trial_results(params: dict[str, Any], benchmark: str) -> list[str]:
    """The result JSONs of every trial of `benchmark`."""
    return [trial.path for trial in trials(params, benchmark)]


def trial_inputs(params: dict[str, Any], benchmark: str, backbone: str, subjects: Mapping[str, list[str]]) -> list[str]:
    """Manifests and their sidecars, the input caches of every subject of every session, the backbone's weights."""
    bench = benchmark_config(params, benchmark)
    bench.check_trial(backbone=backbone)
    manifests = [t.format(dataset=d) for d in bench.datasets for t in (paths.MANIFEST, paths.MANIFEST_META)]
    experiment = {
        "datasets": list(bench.datasets),
        "input": bench.input,
        "pretrained": bench.backbones[backbone].pretrained,
    }
    return [*manifests, *input_files(experiment, subjects)]


def job_resources(params: dict[str, Any], benchmark: str) -> dict[str, int]:
    """mem_mb, runtime (minutes) and gpu of each trial of `benchmark`."""
    return dict(benchmark_config(params, benchmark).resources)


def table_outputs(benchmark: str) -> list[str]:
    """The files `mer report --imer <benchmark>` writes."""
    return [
        *(TABLE.format(benchmark=benchmark, ext=ext) for ext in TABLE_EXTENSIONS),
        COUNTS.format(benchmark=benchmark),
    ]
