"""Where every artifact lives: one set of path templates shared by the CLI and the workflow.

The templates use Snakemake's wildcard syntax, so `workflow/rules/*.smk` use them directly
as rule outputs and Python code fills them with `str.format`.
"""

from __future__ import annotations

from pathlib import Path

SYNTHETIC_DIR = "data/synthetic"
SYNTHETIC_ROOT = SYNTHETIC_DIR + "/{dataset}"
MANIFEST = "data/interim/{dataset}/manifest.csv"
MANIFEST_META = "data/interim/{dataset}/manifest.json"
FACES_DIR = "data/interim/{dataset}/faces"
FACES = FACES_DIR + "/{subject}.h5"
KEYFRAMES = "data/interim/{dataset}/keyframes.csv"
QC_DIR = "results/qc/{dataset}"
QC_REPORT = QC_DIR + "/qc.md"
QC_FLOW_FIGURE = QC_DIR + "/flow.png"
QC_FIGURES = ("contact_sheet.png", "apex_shifts.png", "motion_curves.png")
FLOW_DIR = "data/processed/{dataset}/flow"
FLOW = FLOW_DIR + "/{subject}.h5"
RUN_DIR = "results/runs/{experiment}"
FOLDS = RUN_DIR + "/folds.json"
FOLD_DIR = RUN_DIR + "/seed{seed}/fold-{fold}"
PREDICTIONS = FOLD_DIR + "/predictions.csv"
# nested selection of one outer fold, shared by all its seeds (experiments.<name>.tuning)
TUNING = RUN_DIR + "/tuning/fold-{fold}.json"
METRICS = RUN_DIR + "/metrics.json"
TABLE_MD = "results/tables/benchmark.md"
TABLE_CSV = "results/tables/benchmark.csv"
TABLE_TEX = "results/tables/benchmark.tex"
GROUP_TABLE = "results/tables/groups/{group}.{ext}"
ABLATION_TABLE = "results/tables/ablations/{ablation}.{ext}"
# The synthetic macro-expression corpus of MA2MI pre-training (`mer synth -d macro`); outside
# data/synthetic so that DVC's pretrain stage owns it, not the preprocess stage.
MACRO_CORPUS = "data/pretrain/macro"
PRETRAINED = "results/pretrained/ma2mi.pt"  # MA2MI encoder weights (+ .json sidecar)
PRETRAINED_VARIANT = "results/pretrained/ma2mi-{variant}.pt"
FIGURE = "results/figures/{experiment}/{figure}.png"
SUMMARY = "results/metrics.json"


def fill(template: str, **wildcards: object) -> Path:
    """A concrete path from a template and its wildcard values."""
    return Path(template.format(**wildcards))
