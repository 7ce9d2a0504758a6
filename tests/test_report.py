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
    write_tables,
)


def metrics(uf1: float, sd: float | None, n_seeds: int) -> dict:
    names = ("uf1", "uar", "accuracy")
    summary = {m: {"mean": uf1 + i / 100, "sd": sd, "n_seeds": n_seeds} for i, m in enumerate(names)}
    ci = {m: {"low": uf1 - 0.1, "high": uf1 + 0.1} for m in names}
    return {"summary": summary, "bootstrap_ci": {"level": 0.95, **ci}}


PROVENANCE = {
    "git_commit": "abc123+dirty",
    "experiments": {
        name: {
            "model": "ststnet",
            "input": "rise_flow",
            "datasets": datasets,
            "protocol": "loso",
            "params_hash": f"p-{name}",
            "manifest_hash": f"m-{name}",
        }
        for name, datasets in (("b_exp", ["casme2", "samm"]), ("a_exp", ["casme2"]))
    },
}


def test_benchmark_table_rows_and_columns() -> None:
    markdown, frame = benchmark_table({"b_exp": metrics(0.6, 0.02, 3), "a_exp": metrics(0.7, None, 1)}, PROVENANCE)
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
    assert "| p-b_exp | m-b_exp | abc123+dirty |" in lines[3]
    assert "pooled" in markdown and "not comparable" in markdown


def test_write_tables_is_atomic_and_round_trips(tmp_path: Path) -> None:
    markdown, frame = benchmark_table({"a_exp": metrics(0.7, 0.01, 2)}, PROVENANCE)
    md_path, csv_path = write_tables(tmp_path / "tables", "benchmark", markdown, frame)
    assert md_path.read_text() == markdown
    back = pd.read_csv(csv_path)
    assert back["uf1_mean"].tolist() == [0.7] and back["n_seeds"].tolist() == [2]
    assert sorted(p.name for p in (tmp_path / "tables").iterdir()) == ["benchmark.csv", "benchmark.md"]


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
    markdown = build_report(params, "params.yaml")
    assert Path(paths.TABLE_MD).read_text() == markdown
    frame = pd.read_csv(paths.TABLE_CSV)
    assert frame["manifest_hash"].tolist() == [f"{dataset}:{file_sha256(manifest)}"]
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
