"""`mer report`: every experiment's metrics.json → benchmark tables, group tables, figures, DVC metrics.

Everything is regenerated from saved metrics (themselves pooled from saved predictions by
`mer evaluate`); nothing is retrained.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from mer import paths
from mer.atomic import write_json
from mer.errors import InputDataError
from mer.config import all_experiments
from mer.report.ablations import ablation_names, write_ablation
from mer.report.provenance import DEFAULT_GROUP, build_provenance, file_sha256, git_commit
from mer.report.tables import METRIC_NAMES, benchmark_table, group_table, write_tables

# Figures drawn per experiment (mer.report.figures.FIGURES; imported when drawing, so that
# the workflow can list the outputs without importing matplotlib).
FIGURE_NAMES = ("confusion", "per_subject")


def _read_json(path: Path, what: str, **where: str) -> dict[str, Any]:
    if not path.is_file():
        raise InputDataError(f"{what} missing", path=str(path), **where)
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


def report_groups(params: dict[str, Any]) -> list[str]:
    """The experiment groups of a params file, sorted (`group` defaults to "benchmark")."""
    return sorted({experiment.get("group", DEFAULT_GROUP) for experiment in params["experiments"].values()})


def report_outputs(params: dict[str, Any]) -> list[str]:
    """Every file `build_report` writes besides benchmark.{md,csv} and the headline (for Snakemake)."""
    groups = [paths.GROUP_TABLE.format(group=g, ext=ext) for g in report_groups(params) for ext in ("md", "csv", "tex")]
    figures = [paths.FIGURE.format(experiment=e, figure=f) for e in sorted(params["experiments"]) for f in FIGURE_NAMES]
    return [paths.TABLE_TEX, *groups, *figures]


def _metrics(names: Iterable[str]) -> dict[str, dict[str, Any]]:
    return {
        name: _read_json(paths.fill(paths.METRICS, experiment=name), "metrics (run `mer evaluate` first)")
        for name in names
    }


def _provenance(params: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """build_provenance with the manifest hash and manifest.json of every dataset the experiments use."""
    experiments = all_experiments(params)
    used = sorted({d for name in names for d in experiments[name]["datasets"]})
    hashes, meta = {}, {}
    for dataset in used:
        manifest = paths.fill(paths.MANIFEST, dataset=dataset)
        if not manifest.is_file():
            raise InputDataError("manifest missing", dataset=dataset, path=str(manifest))
        hashes[dataset] = file_sha256(manifest)
        meta[dataset] = _read_json(paths.fill(paths.MANIFEST_META, dataset=dataset), "manifest.json", dataset=dataset)
    return build_provenance(params, hashes, git_commit(), meta)


def build_ablation(params: dict[str, Any], ablation: str) -> str:
    """Write one ablation's table (results/tables/ablations/<name>.*) from saved metrics; returns the Markdown."""
    names = ablation_names(params, ablation)
    return write_ablation(params, ablation, _metrics(names), _provenance(params, names))


def build_report(params: dict[str, Any], params_file: str | os.PathLike[str]) -> str:
    """Write the benchmark and group tables, the figures and results/metrics.json; return the Markdown.

    `params_file` is named in the table's provenance note.
    """
    from mer.report.figures import FIGURES

    metrics = _metrics(params["experiments"])
    provenance = _provenance(params, params["experiments"])
    markdown, frame, latex = benchmark_table(metrics, provenance)
    markdown += f"\nParams file: `{params_file}`.\n"
    table = Path(paths.TABLE_MD)
    write_tables(table.parent, table.stem, markdown, frame, latex)
    for group in report_groups(params):
        group_md, group_frame, group_tex = group_table(metrics, provenance, group)
        target = Path(paths.GROUP_TABLE.format(group=group, ext="md"))
        write_tables(target.parent, target.stem, group_md, group_frame, group_tex)
    for name, result in metrics.items():
        for figure, draw in FIGURES.items():
            draw(result, name, paths.fill(paths.FIGURE, experiment=name, figure=figure))
    write_json(paths.SUMMARY, headline(metrics))
    return markdown
