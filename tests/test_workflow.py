"""The real thing: Snakemake and DVC run the whole pipeline on a tiny synthetic corpus.

One project copy (module-scoped) is run once and then probed: a dry run is a no-op, a forced
rerun gives identical bytes, `dvc repro` runs through Snakemake and a second one reruns nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

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


def test_dvc_remote_push_pull_then_restore(project: Path, tmp_path: Path) -> None:
    patterns = ("data/processed/**/*.h5", "results/runs/**/predictions.csv", "results/runs/**/metrics.json")
    before = _digests(project, patterns)
    _run([str(BIN / "dvc"), "remote", "add", "-f", "-d", "store", str(tmp_path / "remote")], project)
    _run([str(BIN / "dvc"), "push"], project)
    for gone in ("data/processed", "results/runs", ".dvc/cache"):
        shutil.rmtree(project / gone)
    _run([str(BIN / "dvc"), "pull"], project)
    assert _digests(project, patterns) == before
    _run([str(BIN / "snakemake"), "--touch", "--cores", "1"], project)  # what `make restore` runs
    dry = _run([str(BIN / "snakemake"), "-n"], project)
    assert "Nothing to be done" in dry.stdout + dry.stderr
    assert "up to date" in _run([str(BIN / "dvc"), "status"], project).stdout


def test_dvc_metrics_and_plots_read_the_benchmark(project: Path) -> None:
    shown = _run([str(BIN / "dvc"), "metrics", "show"], project).stdout
    assert "casme2_loso_ststnet.uf1_mean" in shown
    _run([str(BIN / "dvc"), "plots", "show", "-o", "dvc_plots"], project)
    assert "uf1_mean" in (project / "dvc_plots/index.html").read_text()


def test_dvc_exp_run_reruns_only_what_a_param_touches(project: Path) -> None:
    out = _run([str(BIN / "dvc"), "exp", "run", "-S", "experiments.casme2_loso_ststnet.epochs=2"], project).stdout
    assert "Running stage 'train'" in out and "Running stage 'report'" in out
    assert "Running stage 'preprocess'" not in out and "Running stage 'flow'" not in out


def test_slurm_profile_dry_run_submits_nothing(project: Path) -> None:
    # A dry run with the SLURM executor plans the jobs without calling any Slurm command.
    proc = _run([str(BIN / "snakemake"), "-n", "--forceall", "--workflow-profile", "profiles/slurm"], project)
    assert "train" in proc.stdout and "Nothing to be done" not in proc.stdout


def test_an_ablation_target_runs_its_variants_and_builds_its_table(project: Path) -> None:
    # Last in this module: it writes another params file (the tiny corpus, flow instances for
    # Ra-ICL, one tiny ablation over the three methods) and runs only that ablation's target.
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["flow"]["instances"] = "all"
    params["ablations"] = {"tiny": TINY_ABLATION}
    (project / "params" / "tiny-ablation.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    _run([str(BIN / "snakemake"), "ablation_tiny", "--workflow-profile", "profiles/ci",
          "--configfile", "params/tiny-ablation.yaml"], project)  # fmt: skip
    table = (project / "results/tables/ablations/tiny.md").read_text().splitlines()
    assert table[0] == "| Variant | Method | Keyframes | casme2 UF1 | casme2 UAR | Seeds | Predicted |"
    rows = [line.split(" | ")[0].lstrip("| ") for line in table[2:6]]
    assert rows == ["GAMDSSannotated", "GAMDSSreselected", "RaICL", "MIACNet"]
    log = json.loads((project / "results/runs/tiny__GAMDSSannotated/seed0/fold-casme2-sub01/log.json").read_text())
    assert log["experiment"]["keyframes"] == "annotated" and log["experiment"]["method"] == "gamdss"


TINY_RMT = {"embed_dims": [8, 16, 16, 32], "depths": [1, 1, 1, 1], "num_heads": [2, 2, 2, 2], "projection": 32}
TINY_RESNET = {"layers": [1, 1, 1, 1], "channels": [8, 16, 32, 64], "stem_type": "deep", "stem_width": 8, "output_stride": 8}
GAMDSS_KWARGS = {"backbone": "retention", "backbone_kwargs": TINY_RMT, "spatial_heads": 2}
TINY_ABLATION = {
    "title": "Tiny: the three methods",
    "base": {
        "datasets": ["casme2"], "protocol": "loso", "method": "gamdss", "model": "gamdss",
        "input": ["rise_fall_diff", "onset_frame"], "input_size": 32, "epochs": 1, "batch_size": 8, "lr": 0.001,
        "weight_decay": 0.0, "seeds": [0],
    },
    "columns": ["Method", "Keyframes"],
    "variants": {
        "GAMDSSannotated": {"set": {"keyframes": "annotated", "method_kwargs": GAMDSS_KWARGS},
                            "describe": {"Method": "GAMDSS", "Keyframes": "annotated"}},
        "GAMDSSreselected": {"set": {"keyframes": "reselected", "method_kwargs": GAMDSS_KWARGS},
                             "describe": {"Method": "GAMDSS", "Keyframes": "reselected"}},
        "RaICL": {
            "set": {"method": "ra_icl", "model": "resnet18", "model_kwargs": TINY_RESNET, "input": "instance_flows",
                    "method_kwargs": {"instances": 2, "dim": 16, "heads": 2}},
            "describe": {"Method": "Ra-ICL"},
        },
        "MIACNet": {
            "set": {"method": "miacnet", "model": "miacnet", "input": ["onset_frame", "rise_diff"],
                    "model_kwargs": {"width": 8, "action_channels": 8}},
            "describe": {"Method": "MIACNet (no pre-training)"},
        },
    },
}  # fmt: skip
