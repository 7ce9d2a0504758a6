"""The real thing: Snakemake and DVC run the whole pipeline on a tiny synthetic corpus.

One project copy (module-scoped) is run once and then probed: a dry run is a no-op, a forced
rerun gives identical bytes, `dvc repro` runs through Snakemake and a second one reruns nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from tests.project import BIN, make_project
from tests.project import run as _run

pytestmark = pytest.mark.slow


def _digests(root: Path, patterns: tuple[str, ...]) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for pattern in patterns
        for p in sorted(root.glob(pattern))
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository with tiny params, after one full Snakemake run."""
    root = make_project(tmp_path_factory.mktemp("project"))
    _run([str(BIN / "snakemake"), "--workflow-profile", "profiles/ci"], root)
    return root


def test_run_produces_benchmark_table(project: Path) -> None:
    table = (project / "results/tables/benchmark.md").read_text()
    assert "UF1" in table and "UAR" in table and "casme2_loso_ststnet" in table
    metrics = json.loads((project / "results/metrics.json").read_text())
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
