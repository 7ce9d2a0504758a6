"""Reporting: benchmark tables with provenance, generated from stored metrics."""

from mer.report.build import build_report, headline
from mer.report.provenance import build_provenance, experiment_params_hash, file_sha256, git_commit
from mer.report.tables import benchmark_table, write_tables

__all__ = [
    "benchmark_table",
    "build_provenance",
    "build_report",
    "experiment_params_hash",
    "file_sha256",
    "git_commit",
    "headline",
    "write_tables",
]
