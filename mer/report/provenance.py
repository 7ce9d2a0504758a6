"""Where a result came from: code commit, the params that determine it, and the manifests it used."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

from mer.config import SYNTHETIC_ROOT, all_experiments, params_hash
from mer.protocols import protocol_name
from mer.training.inputs import input_names
from mer.training.validation import selection_rule

HASH_CHARS = 12
# params.yaml sections every experiment's result depends on, besides its own entry and datasets.
UPSTREAM_SECTIONS = ("crop", "keyframes", "flow")


def _git(args: list[str], cwd: str | os.PathLike[str] | None) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def git_commit(cwd: str | os.PathLike[str] | None = None) -> str:
    """HEAD's commit hash, "+dirty" appended when tracked files differ from it; "unknown" outside git.

    Untracked files are ignored: pipeline outputs are git-ignored and new untracked files
    do not change what the tracked code computes.
    """
    commit = _git(["rev-parse", "HEAD"], cwd)
    if not commit:
        return "unknown"
    status = _git(["status", "--porcelain", "--untracked-files=no"], cwd)
    return commit + ("+dirty" if status else "")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Short SHA-256 of a file's bytes (the manifest hash recorded with each result)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:HASH_CHARS]


def experiment_params_hash(params: dict[str, Any], name: str) -> str:
    """Hash of every params section that determines experiment `name`'s result.

    That is the experiment entry, its datasets' entries, crop, keyframes and flow, and the
    synth section when one of its datasets is synthetic.
    """
    experiment = all_experiments(params)[name]
    datasets = {d: params["datasets"][d] for d in experiment["datasets"]}
    section: dict[str, Any] = {"experiment": experiment, "datasets": datasets}
    section.update({key: params[key] for key in UPSTREAM_SECTIONS})
    if any(entry["root"] == SYNTHETIC_ROOT for entry in datasets.values()):
        section["synth"] = params["synth"]
    return params_hash(section)


DEFAULT_GROUP = "benchmark"


def model_label(experiment: dict[str, Any]) -> str:
    """The model column: the model name, prefixed by the method when it is not plain supervised."""
    method = experiment.get("method", "supervised")
    return experiment["model"] if method == "supervised" else f"{method}:{experiment['model']}"


def annotation_label(meta: dict[str, Any]) -> str:
    """`file@version` of a manifest sidecar's annotation (first 12 SHA-256 digits when unversioned)."""
    version = meta.get("annotation_version") or str(meta.get("annotation_sha256", ""))[:HASH_CHARS] or "unknown"
    return f"{meta.get('annotation_file', 'unknown')}@{version}"


def build_provenance(
    params: dict[str, Any],
    manifest_hashes: dict[str, str],
    commit: str,
    manifest_meta: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The `provenance` argument of benchmark_table: commit plus, per experiment, what it ran on.

    `manifest_meta` holds each dataset's manifest.json (label scheme, annotation file and
    version); without it, the datasets' configured schemes are recorded and the annotation
    as "unknown".
    """
    meta = manifest_meta or {}
    experiments = {}
    for name, experiment in sorted(all_experiments(params).items()):
        datasets = list(experiment["datasets"])
        experiments[name] = {
            "model": model_label(experiment),
            "input": "+".join(input_names(experiment)),
            "datasets": datasets,
            "protocol": protocol_name(experiment["protocol"]),
            "group": experiment.get("group", DEFAULT_GROUP),
            "selection": selection_rule(experiment),
            "scheme": " ".join(
                f"{d}:{meta.get(d, {}).get('scheme', params['datasets'][d]['scheme'])}" for d in datasets
            ),
            "annotation": " ".join(f"{d}:{annotation_label(meta.get(d, {}))}" for d in datasets),
            "params_hash": experiment_params_hash(params, name),
            "manifest_hash": " ".join(f"{d}:{manifest_hashes[d]}" for d in datasets),
        }
    return {"git_commit": commit, "experiments": experiments}
