"""The benchmark table: one row per experiment, pooled metrics as mean ± SD over seeds, with provenance."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from mer.atomic import write_csv, write_text

METRIC_NAMES = {"uf1": "UF1", "uar": "UAR", "accuracy": "Accuracy"}
DIGITS = 4
FOOTNOTE = (
    "UF1/UAR/Accuracy: MEGC-style, computed on the predictions of all folds pooled, per seed; "
    "mean ± SD (ddof = 1) over seeds. 95% CI: percentile bootstrap over subjects of the seed-mean "
    "pooled metric. Fold-mean scores are not shown: they are not comparable to pooled numbers."
)


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.{DIGITS}f}"


def _mean_sd(summary: dict[str, Any]) -> str:
    text = _number(summary["mean"])
    return text if summary["sd"] is None else f"{text} ± {_number(summary['sd'])}"


def _ci(interval: dict[str, float]) -> str:
    return f"[{_number(interval['low'])}, {_number(interval['high'])}]"


def benchmark_table(metrics: dict[str, dict[str, Any]], provenance: dict[str, Any]) -> tuple[str, pd.DataFrame]:
    """Markdown and a numeric DataFrame from {experiment: metrics.json} and provenance.

    `provenance` is {"git_commit": str, "experiments": {experiment: {"model", "input",
    "datasets", "protocol", "params_hash", "manifest_hash"}}} (see build_provenance).
    Rows are sorted by experiment name.
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
            "n_seeds": summary["uf1"]["n_seeds"],
        }
        for metric in METRIC_NAMES:
            record[f"{metric}_mean"] = summary[metric]["mean"]
            record[f"{metric}_sd"] = summary[metric]["sd"]
        for metric in METRIC_NAMES:
            record[f"{metric}_ci_low"] = ci[metric]["low"]
            record[f"{metric}_ci_high"] = ci[metric]["high"]
        record["params_hash"] = origin["params_hash"]
        record["manifest_hash"] = origin["manifest_hash"]
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
                origin["params_hash"],
                origin["manifest_hash"],
                provenance["git_commit"],
            ]
        )
    header = [
        "Experiment", "Model", "Input", "Dataset(s)", "Protocol", *METRIC_NAMES.values(),
        "Seeds", "95% CI (subject bootstrap)", "Params hash", "Manifest hash", "Git commit",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in shown]
    markdown = "\n".join([*lines, "", FOOTNOTE, ""])
    return markdown, pd.DataFrame.from_records(records)


def write_tables(out_dir: str | os.PathLike[str], name: str, markdown: str, frame: pd.DataFrame) -> tuple[Path, Path]:
    """Write <out_dir>/<name>.md and <name>.csv atomically; returns both paths."""
    out_dir = Path(out_dir)
    md_path, csv_path = out_dir / f"{name}.md", out_dir / f"{name}.csv"
    write_text(md_path, markdown)
    write_csv(csv_path, frame)
    return md_path, csv_path
