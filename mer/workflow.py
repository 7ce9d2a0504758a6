"""What the Snakemake workflow fans out over, decided when it is parsed, and the DVC entry.

The fan-out is static: subjects come from the synth config (synthetic corpora) or from the
annotation file (real corpora), and folds follow from the subjects under each experiment's
protocol. Keeping this here, not in the Snakefile, makes it testable without Snakemake.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mer import config as mer_config
from mer import paths
from mer.errors import ConfigError
from mer.pretraining import OUTPUT as PRETRAINED

# DVC stages name these Snakemake rules as their targets (see dvc.yaml).
STAGE_TARGETS = {
    "preprocess": "preprocess_all",
    "flow": "flow_all",
    "pretrain": "pretrain_all",
    "train": "train_all",
    "report": "all",
}


@dataclass(frozen=True)
class Plan:
    """Datasets, their subjects, experiments and their fold names for one params file."""

    datasets: list[str]
    subjects: dict[str, list[str]]
    experiments: dict[str, dict[str, Any]]
    folds: dict[str, list[str]]
    benchmark: list[str]  # the `experiments` of params.yaml: what `all` runs
    ablations: dict[str, list[str]]  # ablation → its experiment names (run only when their table is asked for)

    @classmethod
    def from_config(cls, params: dict[str, Any], params_file: str | Path) -> Plan:
        """Validate Snakemake's config and derive the fan-out.

        Rules pass the params *file* to each `mer` verb, so Snakemake's `--config key=value`
        overrides would be invisible to them; they are refused with a pointer to --configfile.
        """
        mer_config.validate(params, source=str(params_file))
        if params != mer_config.load(params_file):
            raise ConfigError(
                f"Snakemake's config differs from {params_file}: `--config` overrides are not "
                "passed to the mer verbs. Put the changes in a params file and use --configfile."
            )
        from mer import datasets, protocols, synth
        from mer.training.jobs import check_keyframes_choice

        subjects = {}
        for name in params["datasets"]:
            spec = mer_config.dataset_spec(params, name)
            subjects[name] = synth.planned_subjects(name, params) if spec.synthetic else datasets.list_subjects(spec)
        experiments = mer_config.all_experiments(params)
        for name, experiment in experiments.items():
            check_keyframes_choice(name, experiment, params["keyframes"]["mode"])
        folds = {
            name: protocols.planned_fold_names(exp["protocol"], {d: subjects[d] for d in exp["datasets"]})
            for name, exp in experiments.items()
        }
        ablations = {
            ablation: [f"{ablation}{mer_config.ABLATION_SEPARATOR}{variant}" for variant in spec["variants"]]
            for ablation, spec in params.get("ablations", {}).items()
        }
        return cls(sorted(params["datasets"]), subjects, experiments, folds, list(params["experiments"]), ablations)


def prepare_job_environment() -> None:
    """Environment every job inherits, set once when the workflow is parsed.

    - The running interpreter's bin folder goes first on PATH: rules run `python -m mer`, and
      without --use-conda that must be the interpreter running Snakemake (a venv need not be
      activated). With --use-conda the rule environment is activated later and still wins.
    - HDF5_USE_FILE_LOCKING=FALSE unless the user chose otherwise: HDF5's locks fail on the
      NFS/Lustre file systems of clusters, and each cache file has exactly one writer anyway.
      The cluster profiles pass it on to remote jobs (`envvars`).
    """
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")


def run_stage(stage: str, params_file: str = "params.yaml") -> int:
    """Run the Snakemake target behind a DVC stage; extra flags come from MER_SNAKEMAKE_ARGS.

    The DVC command line stays machine-independent (so DVC never sees a changed stage) while
    users add `--cores 8 --use-conda` or `--workflow-profile profiles/slurm` per machine.
    """
    if stage not in STAGE_TARGETS:
        raise ConfigError(f"unknown stage {stage!r}; expected one of {sorted(STAGE_TARGETS)}")
    # DVC requires every declared output to exist; a run on real corpora makes no synthetic ones,
    # and a params file without `pretrain` makes no pre-trained weights.
    for folder in (paths.SYNTHETIC_DIR, Path(paths.MACRO_CORPUS).parent, Path(PRETRAINED).parent):
        Path(folder).mkdir(parents=True, exist_ok=True)
    extra = shlex.split(os.environ.get("MER_SNAKEMAKE_ARGS", "--cores 2"))
    command = [sys.executable, "-m", "snakemake", "--configfile", params_file, *extra, STAGE_TARGETS[stage]]
    return subprocess.call(command)
