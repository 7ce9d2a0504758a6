"""Benchmark tables, provenance (git commit, params and manifest hashes) and the report verb's outputs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from mer import config, paths
from mer.errors import InputDataError
from mer.report import (
    benchmark_table,
    build_provenance,
    build_report,
    experiment_params_hash,
    file_sha256,
    git_commit,
    group_table,
    report_outputs,
    selection_label,
    write_tables,
)
from mer.report.build import FIGURE_NAMES
from mer.report.figures import FIGURES, confusion_figure


def metrics(uf1: float, sd: float | None, n_seeds: int, datasets: tuple[str, ...] = ("casme2",)) -> dict:
    names = ("uf1", "uar", "accuracy")
    summary = {m: {"mean": uf1 + i / 100, "sd": sd, "n_seeds": n_seeds} for i, m in enumerate(names)}
    ci = {m: {"low": uf1 - 0.1, "high": uf1 + 0.1} for m in names}
    per_seed = {
        str(seed): {
            "uf1": uf1 + seed / 100, "uar": uf1, "accuracy": uf1,
            "confusion": [[3, 1], [seed, 4]],
            "predicted_counts": {"negative": 3 + seed, "positive": 5},
            "per_dataset": {d: {"uf1": uf1 - k / 10 + seed / 100, "uar": uf1 - k / 10, "accuracy": 0.5}
                            for k, d in enumerate(datasets)},
        }
        for seed in range(n_seeds)
    }
    per_subject = {f"{d}/sub0{k}": {"n": 2 + k, "accuracy": k / 4} for d in datasets for k in range(3)}
    return {"classes": ["negative", "positive"], "summary": summary, "bootstrap_ci": {"level": 0.95, **ci},
            "per_seed": per_seed, "per_subject": per_subject,
            "baselines": {"chance_uar": 0.5, "majority_class": {
                "uf1": 0.3, "uar": 0.5, "accuracy": 0.6, "n": 10, "predicted_counts": {"negative": 10, "positive": 0},
                "per_dataset": {d: {"uf1": 0.3, "uar": 0.5, "accuracy": 0.6, "n": 10} for d in datasets}}}}


PROVENANCE = {
    "git_commit": "abc123+dirty",
    "experiments": {
        name: {
            "model": "ststnet",
            "input": "rise_flow",
            "datasets": datasets,
            "protocol": "loso",
            "group": "benchmark",
            "selection": "last epoch",
            "scheme": "casme2:casme2_5class",
            "annotation": "casme2:coding.xlsx@2014",
            "params_hash": f"p-{name}",
            "manifest_hash": f"m-{name}",
        }
        for name, datasets in (("b_exp", ["casme2", "samm"]), ("a_exp", ["casme2"]))
    },
}


def test_benchmark_table_rows_and_columns() -> None:
    markdown, frame, latex = benchmark_table(
        {"b_exp": metrics(0.6, 0.02, 3), "a_exp": metrics(0.7, None, 1)}, PROVENANCE
    )
    assert frame["experiment"].tolist() == ["a_exp", "b_exp"]
    assert frame.loc[1, "datasets"] == "casme2+samm"
    assert frame.loc[1, "uf1_mean"] == pytest.approx(0.6) and frame.loc[1, "uf1_sd"] == pytest.approx(0.02)
    assert frame.loc[1, "uar_ci_high"] == pytest.approx(0.7)
    assert frame["git_commit"].unique().tolist() == ["abc123+dirty"]
    assert frame["params_hash"].tolist() == ["p-a_exp", "p-b_exp"]
    lines = markdown.splitlines()
    assert lines[0].startswith("| Experiment | Model | Input | Dataset(s) | Protocol | UF1 | UAR | Accuracy | Seeds")
    assert lines[2].startswith("| a_exp | ststnet | rise_flow | casme2 | loso | 0.7000 | 0.7100 | 0.7200 | 1 |")
    assert "| 0.6000 ± 0.0200 | 0.6100 ± 0.0200 | 0.6200 ± 0.0200 | 3 |" in lines[3]
    assert "UF1 [0.5000, 0.7000]; UAR [0.5000, 0.7000]" in lines[3]
    provenance_cells = "| last epoch | casme2:casme2_5class | casme2:coding.xlsx@2014 | p-b_exp | m-b_exp | abc123+dirty |"
    assert provenance_cells in lines[3]
    assert "pooled" in markdown and "not comparable" in markdown
    assert frame.loc[0, "scheme"] == "casme2:casme2_5class" and frame.loc[0, "annotation"] == "casme2:coding.xlsx@2014"
    assert r"0.6000 $\pm$ 0.0200" in latex and r"\toprule" in latex and "a\\_exp" in latex


def test_write_tables_is_atomic_and_round_trips(tmp_path: Path) -> None:
    markdown, frame, latex = benchmark_table({"a_exp": metrics(0.7, 0.01, 2)}, PROVENANCE)
    md_path, csv_path, tex_path = write_tables(tmp_path / "tables", "benchmark", markdown, frame, latex)
    assert md_path.read_text() == markdown and tex_path.read_text() == latex
    back = pd.read_csv(csv_path)
    assert back["uf1_mean"].tolist() == [0.7] and back["n_seeds"].tolist() == [2]
    names = sorted(p.name for p in (tmp_path / "tables").iterdir())
    assert names == ["benchmark.csv", "benchmark.md", "benchmark.tex"]


def git(cwd: Path, *args: str) -> None:
    command = ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args]
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)


def test_git_commit_states(tmp_path: Path) -> None:
    assert git_commit(tmp_path) == "unknown"
    git(tmp_path, "init", "-q")
    assert git_commit(tmp_path) == "unknown"  # no commit yet
    (tmp_path / "a.txt").write_text("1")
    git(tmp_path, "add", "a.txt")
    git(tmp_path, "commit", "-q", "-m", "x")
    clean = git_commit(tmp_path)
    assert len(clean) == 40 and not clean.endswith("+dirty")
    (tmp_path / "untracked.txt").write_text("ignored")
    assert git_commit(tmp_path) == clean
    (tmp_path / "a.txt").write_text("2")
    assert git_commit(tmp_path) == clean + "+dirty"


def test_params_hash_covers_what_determines_an_experiment(repo: Path) -> None:
    params = config.load(repo / "params.yaml")
    name = next(iter(params["experiments"]))
    base = experiment_params_hash(params, name)
    assert experiment_params_hash(params, name) == base
    other = config.deep_merge(params, {"experiments": {"another": {**params["experiments"][name], "lr": 0.5}}})
    assert experiment_params_hash(other, name) == base
    for change in ({"flow": {"size": 64}}, {"keyframes": {"mode": "annotated"}}, {"experiments": {name: {"lr": 0.5}}}):
        assert experiment_params_hash(config.deep_merge(params, change), name) != base


def one_experiment(repo: Path) -> tuple[dict, str, str]:
    """params.yaml cut down to its first experiment and that experiment's first dataset."""
    params = config.load(repo / "params.yaml")
    name, experiment = next(iter(params["experiments"].items()))
    dataset = experiment["datasets"][0]
    params["experiments"] = {name: {**experiment, "datasets": [dataset]}}
    params["datasets"] = {dataset: params["datasets"][dataset]}
    return params, name, dataset


def test_build_report_writes_tables_and_headline(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params, name, dataset = one_experiment(repo)
    monkeypatch.chdir(tmp_path)
    path = paths.fill(paths.METRICS, experiment=name)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(metrics(0.65, 0.03, 3)))
    manifest = paths.fill(paths.MANIFEST, dataset=dataset)
    manifest.parent.mkdir(parents=True)
    manifest.write_text("dataset,subject\n")
    meta = {"scheme": "casme2_5class", "annotation_file": "coding.xlsx", "annotation_version": "2019"}
    paths.fill(paths.MANIFEST_META, dataset=dataset).write_text(json.dumps(meta))
    markdown = build_report(params, "params.yaml")
    for output in report_outputs(params):
        assert Path(output).is_file(), output
    assert Path(output).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Path(paths.TABLE_MD).read_text() == markdown
    frame = pd.read_csv(paths.TABLE_CSV)
    assert frame["manifest_hash"].tolist() == [f"{dataset}:{file_sha256(manifest)}"]
    assert frame["annotation"].tolist() == [f"{dataset}:coding.xlsx@2019"]
    provenance = build_provenance(params, {dataset: file_sha256(manifest)}, "x")
    assert frame["params_hash"].tolist() == [provenance["experiments"][name]["params_hash"]]
    headline = json.loads(Path(paths.SUMMARY).read_text())
    assert headline[name] == {
        "n_seeds": 3, "uf1_mean": 0.65, "uf1_sd": 0.03, "uar_mean": 0.66, "uar_sd": 0.03,
        "accuracy_mean": 0.67, "accuracy_sd": 0.03,
    }


def test_build_report_names_missing_metrics(repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    params, _, _ = one_experiment(repo)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputDataError, match="run `mer evaluate` first"):
        build_report(params, "params.yaml")


def test_group_table_has_datasets_times_metrics_columns() -> None:
    provenance = {
        "git_commit": "c",
        "experiments": {
            "cde": {**PROVENANCE["experiments"]["b_exp"], "group": "megc"},
            "solo": {**PROVENANCE["experiments"]["a_exp"], "group": "megc", "model": "offapexnet"},
            "other": {**PROVENANCE["experiments"]["a_exp"], "group": "benchmark"},
        },
    }
    results = {
        "cde": metrics(0.6, 0.02, 3, ("casme2", "samm")),
        "solo": metrics(0.7, None, 1),
        "other": metrics(0.1, None, 1),
    }
    markdown, frame, latex = group_table(results, provenance, "megc")
    header = markdown.splitlines()[0]
    assert header == (
        "| Method | casme2 UF1 | casme2 UAR | samm UF1 | samm UAR | overall UF1 | overall UAR | Selection |"
    )
    cde_row = frame[frame["model"] == "ststnet"].iloc[0]
    # per-dataset sub-scores: mean and SD over the three seeds
    assert cde_row["samm_uf1_mean"] == pytest.approx(0.51) and cde_row["samm_uf1_sd"] == pytest.approx(0.01)
    assert cde_row["overall_uf1_mean"] == pytest.approx(0.61)
    solo_row = frame[frame["model"] == "offapexnet"].iloc[0]
    assert pd.isna(solo_row["samm_uf1_mean"]) and solo_row["casme2_uf1_mean"] == pytest.approx(0.7)
    assert "–" in markdown and "other" not in markdown and r"\midrule" in latex


def test_oracle_selection_is_marked() -> None:
    assert selection_label("last epoch") == "last epoch"
    assert selection_label("best test-selected epoch").startswith("ORACLE")


def test_figures_are_byte_identical_on_rerun(tmp_path: Path) -> None:
    assert tuple(FIGURES) == FIGURE_NAMES
    result = metrics(0.6, 0.02, 3)
    for name, draw in FIGURES.items():
        draw(result, "exp", tmp_path / f"{name}-a.png")
        draw(result, "exp", tmp_path / f"{name}-b.png")
        assert (tmp_path / f"{name}-a.png").read_bytes() == (tmp_path / f"{name}-b.png").read_bytes()
    confusion_figure(metrics(0.6, 0.02, 2), "exp", tmp_path / "two-seeds.png")
    assert (tmp_path / "two-seeds.png").read_bytes() != (tmp_path / "confusion-a.png").read_bytes()
