"""Reporting: benchmark and group tables (Markdown, CSV, LaTeX) and figures, generated from stored metrics."""

from mer.report.ablations import ablation_outputs
from mer.report.build import build_ablation, build_report, headline, report_groups, report_outputs
from mer.report.latex import latex_table
from mer.report.provenance import build_provenance, experiment_params_hash, file_sha256, git_commit
from mer.report.tables import benchmark_table, group_table, selection_label, write_tables

__all__ = [
    "ablation_outputs",
    "build_ablation",
    "benchmark_table",
    "build_provenance",
    "build_report",
    "experiment_params_hash",
    "file_sha256",
    "git_commit",
    "group_table",
    "headline",
    "latex_table",
    "report_groups",
    "report_outputs",
    "selection_label",
    "write_tables",
]
