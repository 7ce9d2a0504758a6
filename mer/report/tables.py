"""Benchmark tables: pooled metrics as mean ± SD over seeds, with CIs and provenance; Markdown, CSV, LaTeX.

`benchmark_table` has one row per experiment. `group_table` follows the layout of GAMDSS's
Tables II–III: one row per method (model, input, selection), columns = datasets × (UF1,
UAR), each the mean ± SD over seeds of the per-dataset sub-score of the pooled predictions,
plus the overall pooled scores of composite experiments.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mer.atomic import write_csv, write_text
from mer.report.latex import latex_table

METRIC_NAMES = {"uf1": "UF1", "uar": "UAR", "accuracy": "Accuracy"}
GROUP_METRICS = {"uf1": "UF1", "uar": "UAR"}
DIGITS = 4
ORACLE_MARK = "ORACLE (test-selected; not a valid estimate)"
FOOTNOTE = (
    "UF1/UAR/Accuracy: MEGC-style, computed on the predictions of all folds pooled, per seed; "
    "mean ± SD (ddof = 1) over seeds. 95% CI: percentile bootstrap over subjects of the seed-mean "
    "pooled metric. Fold-mean scores are not shown: they are not comparable to pooled numbers. "
    "Selection: how the predicting weights were chosen; the test fold never chooses them "
    "(a test-selected number would be marked " + ORACLE_MARK + ")."
)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.{DIGITS}f}"


def _mean_sd(summary: dict[str, Any]) -> str:
    text = _number(summary["mean"])
    return text if summary["sd"] is None else f"{text} ± {_number(summary['sd'])}"


def _ci(interval: dict[str, float]) -> str:
    return f"[{_number(interval['low'])}, {_number(interval['high'])}]"


def selection_label(selection: str) -> str:
    """The selection text, prefixed with the oracle mark when the test fold chose the weights."""
    return f"{ORACLE_MARK}: {selection}" if "test-selected" in selection else selection


def _markdown(header: list[str], rows: list[list[str]], footnote: str) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join([*lines, "", footnote, ""])


def benchmark_table(
    metrics: dict[str, dict[str, Any]], provenance: dict[str, Any]
) -> tuple[str, pd.DataFrame, str]:
    """Markdown, a numeric DataFrame and LaTeX from {experiment: metrics.json} and provenance.

    `provenance` is {"git_commit": str, "experiments": {experiment: {"model", "input",
    "datasets", "protocol", "selection", "scheme", "annotation", "params_hash",
    "manifest_hash"}}} (see build_provenance). Rows are sorted by experiment name.
    """
    records, shown = [], []
    for name in sorted(metrics):
        result, origin = metrics[name], provenance["experiments"][name]
        summary, ci = result["summary"], result["bootstrap_ci"]
        record: dict[str, Any] = {
            "experiment": name,
            "model": origin["model"],
            "input": origin["input"],
            "datasets": "+".join(origin["datasets"]),
            "protocol": origin["protocol"],
            "selection": selection_label(origin["selection"]),
            "n_seeds": summary["uf1"]["n_seeds"],
        }
        for metric in METRIC_NAMES:
            record[f"{metric}_mean"] = summary[metric]["mean"]
            record[f"{metric}_sd"] = summary[metric]["sd"]
        for metric in METRIC_NAMES:
            record[f"{metric}_ci_low"] = ci[metric]["low"]
            record[f"{metric}_ci_high"] = ci[metric]["high"]
        for key in ("scheme", "annotation", "params_hash", "manifest_hash"):
            record[key] = origin[key]
        record["git_commit"] = provenance["git_commit"]
        records.append(record)
        shown.append(
            [
                name,
                origin["model"],
                origin["input"],
                record["datasets"],
                origin["protocol"],
                *(_mean_sd(summary[metric]) for metric in METRIC_NAMES),
                str(record["n_seeds"]),
                f"UF1 {_ci(ci['uf1'])}; UAR {_ci(ci['uar'])}",
                record["selection"],
                origin["scheme"],
                origin["annotation"],
                origin["params_hash"],
                origin["manifest_hash"],
                provenance["git_commit"],
            ]
        )
    header = [
        "Experiment", "Model", "Input", "Dataset(s)", "Protocol", *METRIC_NAMES.values(),
        "Seeds", "95% CI (subject bootstrap)", "Selection", "Label scheme", "Annotation",
        "Params hash", "Manifest hash", "Git commit",
    ]
    markdown = _markdown(header, shown, FOOTNOTE)
    latex = latex_table(header[:10], [row[:10] for row in shown], "Pooled MER results. " + FOOTNOTE)
    return markdown, pd.DataFrame.from_records(records), latex


def _seed_stats(values: list[float]) -> tuple[float, float | None]:
    array = np.asarray(values, dtype=float)
    return float(array.mean()), (float(array.std(ddof=1)) if array.size > 1 else None)


def group_table(
    metrics: dict[str, dict[str, Any]], provenance: dict[str, Any], group: str
) -> tuple[str, pd.DataFrame, str]:
    """Tables II–III layout for the experiments of `group`: rows = methods, columns = datasets × metrics.

    A cell is the mean ± SD over seeds of that dataset's sub-score within the experiment's
    pooled predictions; "overall" is the pooled score over all its datasets (the composite
    number). Methods with the same (model, input, selection) on different experiments of the
    group share a row; a missing combination shows "–".
    """
    names = sorted(n for n in metrics if provenance["experiments"][n]["group"] == group)
    datasets = sorted({d for n in names for d in provenance["experiments"][n]["datasets"]})
    columns = [*datasets, "overall"] if len(datasets) > 1 else datasets
    cells: dict[tuple[str, str, str], dict[str, tuple[float, float | None]]] = {}
    for name in names:
        origin, per_seed = provenance["experiments"][name], metrics[name]["per_seed"].values()
        method = (origin["model"], origin["input"], selection_label(origin["selection"]))
        row = cells.setdefault(method, {})
        for metric in GROUP_METRICS:
            for dataset in origin["datasets"]:
                row[f"{dataset}_{metric}"] = _seed_stats([e["per_dataset"][dataset][metric] for e in per_seed])
            if len(origin["datasets"]) > 1:
                row[f"overall_{metric}"] = _seed_stats([e[metric] for e in per_seed])
    records, shown = [], []
    for (model, input_name, selection), row in sorted(cells.items()):
        record: dict[str, Any] = {"model": model, "input": input_name, "selection": selection}
        texts = [f"{model} ({input_name})"]
        for column in columns:
            for metric in GROUP_METRICS:
                mean, sd = row.get(f"{column}_{metric}", (None, None))
                record[f"{column}_{metric}_mean"], record[f"{column}_{metric}_sd"] = mean, sd
                texts.append("–" if mean is None else _mean_sd({"mean": mean, "sd": sd}))
        texts.append(selection)
        records.append(record)
        shown.append(texts)
    header = ["Method", *(f"{c} {label}" for c in columns for label in GROUP_METRICS.values()), "Selection"]
    note = (
        f"Group `{group}`: per-dataset sub-scores of the pooled predictions, mean ± SD over seeds; "
        "overall = pooled over all datasets of a composite experiment. Experiments: " + ", ".join(names) + "."
    )
    return _markdown(header, shown, note), pd.DataFrame.from_records(records), latex_table(header, shown, note)


def write_tables(
    out_dir: str | os.PathLike[str], name: str, markdown: str, frame: pd.DataFrame, latex: str
) -> tuple[Path, Path, Path]:
    """Write <out_dir>/<name>.md, .csv and .tex atomically; returns the three paths."""
    out_dir = Path(out_dir)
    md_path, csv_path, tex_path = (out_dir / f"{name}.{ext}" for ext in ("md", "csv", "tex"))
    write_text(md_path, markdown)
    write_csv(csv_path, frame)
    write_text(tex_path, latex)
    return md_path, csv_path, tex_path
