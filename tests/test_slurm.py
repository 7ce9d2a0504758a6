"""The tiny workflow on a real Slurm controller, through the SLURM executor plugin.

It must give the same predictions and metrics as the local run, and the rules the profile
marks as GPU rules must reach Slurm with a GPU request (TresPerJob=gres:gpu:1).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.project import BIN, make_project, run
from tests.slurm_cluster import SlurmUnavailable, ensure_installed, running_cluster

pytestmark = pytest.mark.slow

COMPARED = ("results/runs/**/predictions.csv", "results/runs/**/metrics.json", "data/processed/**/*.h5")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for pattern in COMPARED for p in sorted(root.glob(pattern))}


def test_workflow_on_slurm_matches_local_run(tmp_path: Path) -> None:
    try:
        ensure_installed()
    except SlurmUnavailable as exc:
        pytest.skip(f"no Slurm: {exc}")
    local = make_project(tmp_path / "local")
    run([str(BIN / "snakemake"), "--workflow-profile", "profiles/ci"], local)
    on_slurm = make_project(tmp_path / "slurm")
    with running_cluster(tmp_path / "cluster") as cluster:
        run([str(BIN / "snakemake"), "--workflow-profile", "profiles/slurm-ci"], on_slurm, env=cluster.env)
        jobs = cluster.scontrol_jobs()

    blocks = [b for b in jobs.split("\n\n") if "JobId=" in b]
    train = [b for b in blocks if "Comment=rule_train" in b]
    others = [b for b in blocks if "Comment=rule_" in b and "Comment=rule_train" not in b]
    assert train, f"no train job reached Slurm:\n{jobs[:3000]}"
    for block in train:
        assert re.search(r"TresPerJob=gres:gpu:1\b", block), block
        assert "JobState=COMPLETED" in block, block
    assert others and not any("gres:gpu" in b for b in others), "only GPU rules may ask for a GPU"
    expected = _files(local)
    assert expected and _files(on_slurm) == expected
