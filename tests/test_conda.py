"""`snakemake --use-conda` end to end, with a conda stand-in (no conda channel is reachable here).

Proves the per-rule environment wiring: workflow/envs/mer.yaml is copied and hashed, the
environment is created from its pip section, the post-deploy script runs, and every job runs
inside the activated environment.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.project import BIN, make_project, run

pytestmark = pytest.mark.slow
STANDIN = Path(__file__).parent / "conda_standin" / "bin"


def test_use_conda_runs_jobs_in_the_rule_environment(tmp_path: Path) -> None:
    project = make_project(tmp_path / "project")
    activations = tmp_path / "activations.log"
    env = {"PATH": f"{STANDIN}:{BIN}:{os.environ['PATH']}", "MER_CONDA_STANDIN_LOG": str(activations)}
    run([str(BIN / "snakemake"), "--use-conda", "--workflow-profile", "profiles/ci", "data/interim/casme2/manifest.csv"], project, env=env)

    (env_dir,) = [p for p in (project / ".snakemake/conda").iterdir() if p.is_dir()]
    assert (env_dir / "bin/python").exists()
    assert Path(f"{env_dir}.post-deploy.sh").is_file() and Path(f"{env_dir}.env_setup_done").exists()
    activated = activations.read_text().split()
    # one activation for the post-deploy script, then one per job (synth, manifest)
    assert len(activated) == 3 and {Path(a).name for a in activated} == {env_dir.name}
    assert (project / "data/interim/casme2/manifest.csv").stat().st_size > 0
