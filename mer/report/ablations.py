"""Ablation tables in the papers' layout: one row per variant, the paper's descriptive columns,
then per-dataset UF1/UAR (mean ± SD over seeds of the pooled predictions' sub-scores).

An ablation (params.yaml `ablations.<name>`) runs each variant as experiment
`<name>__<variant>` (mer.config.ablation_experiments); this module only reads their saved
metrics.json, so a table is regenerated without retraining.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mer import paths
from mer.config import ABLATION_SEPARATOR, ablation_experiments
from mer.errors import ConfigError
from mer.report.latex import latex_table
from mer.report.tables import GROUP_METRICS, _markdown, _mean_sd, _seed_stats, selection_label, write_tables


def ablation_names(params: dict[str, Any], ablation: str) -> list[str]:
    """The experiment names of one ablation, in the variants' configured order."""
    if ablation not in params.get("ablations", {}):
        raise ConfigError(f"unknown ablation {ablation!r}; configured: {sorted(params.get('ablations', {}))}")
    return [f"{ablation}{ABLATION_SEPARATOR}{variant}" for variant in params["ablations"][ablation]["variants"]]


def ablation_table(
    params: dict[str, Any], ablation: str, metrics: dict[str, dict[str, Any]], provenance: dict[str, Any]
) -> tuple[str, pd.DataFrame, str]:
    """Markdown, CSV frame and LaTeX of one ablation from its experiments' metrics and provenance."""
    spec = params["ablations"][ablation]
    experiments = ablation_experiments(params)
    names = ablation_names(params, ablation)
    described = list(spec.get("columns", []))
    datasets = sorted({d for name in names for d in experiments[name]["datasets"]})
    columns = [*datasets, "overall"] if len(datasets) > 1 else datasets
    records, shown = [], []
    for name in names:
        variant = name.split(ABLATION_SEPARATOR)[1]
        describe = spec["variants"][variant].get("describe", {})
        unknown = sorted(set(describe) - set(described))
        if unknown:
            raise ConfigError(f"ablations.{ablation}.variants.{variant}.describe: columns {unknown} are not in `columns`")
        origin = provenance["experiments"][name]
        per_seed = list(metrics[name]["per_seed"].values())
        record: dict[str, Any] = {"variant": variant, **{c: describe.get(c, "") for c in described}}
        texts = [variant, *(describe.get(c, "") for c in described)]
        for column in columns:
            for metric in GROUP_METRICS:
                if column == "overall":
                    values = [entry[metric] for entry in per_seed]
                elif column in origin["datasets"]:
                    values = [entry["per_dataset"][column][metric] for entry in per_seed]
                else:
                    values = []
                mean, sd = _seed_stats(values) if values else (None, None)
                record[f"{column}_{metric}_mean"], record[f"{column}_{metric}_sd"] = mean, sd
                texts.append("–" if mean is None else _mean_sd({"mean": mean, "sd": sd}))
        record.update(
            experiment=name,
            model=origin["model"],
            input=origin["input"],
            n_seeds=len(per_seed),
            selection=selection_label(origin["selection"]),
            params_hash=origin["params_hash"],
            git_commit=provenance["git_commit"],
        )
        record["predicted_counts"] = "/".join(map(str, predicted_counts(per_seed, metrics[name]["classes"])))
        texts += [str(len(per_seed)), record["predicted_counts"]]
        records.append(record)
        shown.append(texts)
    header = [
        "Variant",
        *described,
        *(f"{c} {label}" for c in columns for label in GROUP_METRICS.values()),
        "Seeds",
        "Predicted",
    ]
    baseline = metrics[names[0]].get("baselines", {}).get("majority_class") if names else None
    if baseline is not None:
        shown.append(_baseline_row(baseline, columns, len(described), metrics[names[0]]["classes"]))
    note = (
        f"{spec['title']} — reproduced by `mer` on the configured corpora (ablation `{ablation}`). "
        "Cells: per-dataset sub-scores of the pooled predictions, mean ± SD over seeds. "
        f"Predicted: how often each class ({'/'.join(metrics[names[0]]['classes']) if names else ''}) was predicted, "
        "summed over seeds; the majority-class row predicts each fold's most frequent training class. "
        f"Selection: {records[0]['selection'] if records else 'n/a'}. Git commit {provenance['git_commit']}."
    )
    return _markdown(header, shown, note), pd.DataFrame.from_records(records), latex_table(header, shown, note)


def predicted_counts(per_seed: list[dict[str, Any]], classes: list[str]) -> list[int]:
    """How often each class was predicted, in the order of `classes` (the caption's), summed over seeds.

    Counts are looked up by name: metrics.json stores them with sorted keys, not in class order.
    """
    return [sum(entry["predicted_counts"][name] for entry in per_seed) for name in classes]


def _baseline_row(baseline: dict[str, Any], columns: list[str], described: int, classes: list[str]) -> list[str]:
    """The majority-class predictor as a table row (one value per cell: it has no seed spread)."""
    cells = []
    for column in columns:
        scores = baseline if column == "overall" else baseline["per_dataset"].get(column)
        cells += ["–" if scores is None else f"{scores[metric]:.4f}" for metric in GROUP_METRICS]
    counts = "/".join(str(baseline["predicted_counts"][name]) for name in classes)
    return ["majority class", *([""] * described), *cells, "–", counts]


def ablation_outputs(ablation: str) -> list[str]:
    """The files `write_ablation` produces for one ablation (for Snakemake)."""
    return [paths.ABLATION_TABLE.format(ablation=ablation, ext=ext) for ext in ("md", "csv", "tex")]


def write_ablation(
    params: dict[str, Any], ablation: str, metrics: dict[str, dict[str, Any]], provenance: dict[str, Any]
) -> str:
    """Write results/tables/ablations/<ablation>.{md,csv,tex} atomically; returns the Markdown."""
    markdown, frame, latex = ablation_table(params, ablation, metrics, provenance)
    target = Path(paths.ABLATION_TABLE.format(ablation=ablation, ext="md"))
    write_tables(target.parent, target.stem, markdown, frame, latex)
    return markdown
