"""The real thing: Snakemake and DVC run the whole pipeline on a tiny synthetic corpus.

One project copy (module-scoped) is run once and then probed: a dry run is a no-op, a forced
rerun gives identical bytes, `dvc repro` runs through Snakemake and a second one reruns nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mer import config
from tests.conftest import REPO, TINY

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "MER_SNAKEMAKE_ARGS": "--cores 2"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def _digests(root: Path, patterns: tuple[str, ...]) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for pattern in patterns
        for p in sorted(root.glob(pattern))
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git clone-like copy of the repository with tiny params, after one full Snakemake run."""
    root = tmp_path_factory.mktemp("project")
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for rel in files:
        src = REPO / rel
        if src.is_file() or src.is_symlink():
            dst = root / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst, follow_symlinks=False)
    params = config.deep_merge(yaml.safe_load((REPO / "params.yaml").read_text()), TINY)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for args in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "t"]):
        _run(args, root)
    _run([str(BIN / "snakemake"), "--workflow-profile", "profiles/ci"], root)
    return root


def test_run_produces_benchmark_table(project: Path) -> None:
    table = (project / "results/tables/benchmark.md").read_text()
    assert "UF1" in table and "UAR" in table and "casme2_loso_ststnet" in table
    metrics = yaml.safe_load((project / "results/metrics.json").read_text())
    assert metrics, "headline metrics for dvc are empty"


def test_dry_run_after_full_run_is_noop(project: Path) -> None:
    proc = _run([str(BIN / "snakemake"), "-n", "--workflow-profile", "profiles/ci"], project)
    assert "Nothing to be done" in proc.stdout + proc.stderr


def test_lint_is_clean(project: Path) -> None:
    proc = _run([str(BIN / "snakemake"), "--lint"], project, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_forced_rerun_is_byte_identical(project: Path) -> None:
    patterns = ("data/synthetic/**/*.jpg", "data/synthetic/**/*.xlsx", "data/interim/**/*.csv", "data/interim/**/*.h5",
                "data/processed/**/*.h5", "results/runs/**/predictions.csv", "results/runs/**/metrics.json")
    before = _digests(project, patterns)
    assert any(k.endswith(".h5") for k in before) and any(k.endswith("predictions.csv") for k in before)
    _run([str(BIN / "snakemake"), "--workflow-profile", "profiles/ci", "--forceall"], project)
    assert _digests(project, patterns) == before


def test_dvc_repro_round_trip(project: Path) -> None:
    _run([str(BIN / "dvc"), "repro"], project)
    assert (project / "dvc.lock").is_file()
    second = _run([str(BIN / "dvc"), "repro"], project)
    assert "didn't change, skipping" in second.stdout and "Running stage" not in second.stdout
    status = _run([str(BIN / "dvc"), "status"], project)
    assert "up to date" in status.stdout


def test_html_report_builds(project: Path) -> None:
    _run([str(BIN / "snakemake"), "--report", "report.html"], project)
    html = (project / "report.html").read_text(errors="replace")
    assert "benchmark.md" in html
