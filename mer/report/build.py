"""`mer report`: every experiment's metrics.json → benchmark tables and the DVC headline metrics."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from mer import paths
from mer.atomic import write_json
from mer.errors import InputDataError
from mer.report.provenance import build_provenance, file_sha256, git_commit
from mer.report.tables import METRIC_NAMES, benchmark_table, write_tables


def _read_metrics(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputDataError("metrics missing (run `mer evaluate` first)", path=str(path))
    return json.loads(path.read_text(encoding="utf-8"))


def headline(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | int]]:
    """{experiment: {uf1_mean, uf1_sd, …, n_seeds}} with numbers only, for `dvc metrics show`."""
    out: dict[str, dict[str, float | int]] = {}
    for name in sorted(metrics):
        summary = metrics[name]["summary"]
        row: dict[str, float | int] = {"n_seeds": summary["uf1"]["n_seeds"]}
        for metric in METRIC_NAMES:
            row[f"{metric}_mean"] = summary[metric]["mean"]
            if summary[metric]["sd"] is not None:
                row[f"{metric}_sd"] = summary[metric]["sd"]
        out[name] = row
    return out


def build_report(params: dict[str, Any], params_file: str | os.PathLike[str]) -> str:
    """Write results/tables/benchmark.{md,csv} and results/metrics.json; return the Markdown.

    `params_file` is named in the table's provenance note.
    """
    metrics = {name: _read_metrics(paths.fill(paths.METRICS, experiment=name)) for name in params["experiments"]}
    used = sorted({d for experiment in params["experiments"].values() for d in experiment["datasets"]})
    manifests = {}
    for dataset in used:
        manifest = paths.fill(paths.MANIFEST, dataset=dataset)
        if not manifest.is_file():
            raise InputDataError("manifest missing", dataset=dataset, path=str(manifest))
        manifests[dataset] = file_sha256(manifest)
    markdown, frame = benchmark_table(metrics, build_provenance(params, manifests, git_commit()))
    markdown += f"\nParams file: `{params_file}`.\n"
    table = Path(paths.TABLE_MD)
    write_tables(table.parent, table.stem, markdown, frame)
    write_json(paths.SUMMARY, headline(metrics))
    return markdown
