"""The incremental rules: `snakemake -n imer` plans one job per trial and one table; `all` plans none of them."""

from __future__ import annotations

from pathlib import Path

import yaml

from mer.incremental.learner import list_learners
from tests.project import BIN, make_project, run

INCLUDE = 'include: "rules/incremental.smk"\n'


def test_dry_run_fans_out_trials(tmp_path: Path) -> None:
    root = make_project(tmp_path)
    snakefile = root / "workflow" / "Snakefile"
    text = snakefile.read_text()
    if INCLUDE not in text:  # until the include line is in the repository's Snakefile
        anchor = 'include: "rules/report.smk"\n'
        snakefile.write_text(text.replace(anchor, anchor + INCLUDE))
    params = yaml.safe_load((root / "params.yaml").read_text())
    sessions = ["casme2", "samm", "mmew", "casme3_a"]
    params["datasets"].update({d: {"root": "synthetic", "annotation": None, "scheme": s} for d, s in
                               [("samm", "samm_5class"), ("mmew", "mmew_7class"), ("casme3_a", "casme3_7class")]})  # fmt: skip
    learner = list_learners()[0]
    params["incremental"] = {
        "imer": {
            "sessions": sessions,
            "input": "apex_frame",
            "input_size": 32,
            "protocols": [{"name": "slcv", "n_folds": 2, "seed": 0}, "ilcv"],
            "learners": [learner],
            "backbones": {"vit": {"model": "vit_base_patch16_224", "kwargs": {"depth": 1, "embed_dim": 32}}},
            "epochs": 1,
            "epochs_later": 1,
            "batch_size": 4,
            "lr": 0.001,
            "weight_decay": 0.0,
            "seed": 0,
        }
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    plan = run([str(BIN / "snakemake"), "imer", "-n", "--quiet", "rules"], root).stdout
    counts = {line.split()[0]: line.split()[1] for line in plan.splitlines() if len(line.split()) == 2}
    assert counts["incremental"] == str(2 + 5)  # slcv 2 folds + ilcv 5 folds, one backbone and learner
    assert counts["imer_table"] == "1" and counts["imer"] == "1"
    assert "crop" in counts and "keyframes" in counts and "flow" not in counts  # apex frames: crops, no flow

    default = run([str(BIN / "snakemake"), "-n", "--quiet", "rules"], root).stdout
    assert "incremental" not in default and "imer_table" not in default
