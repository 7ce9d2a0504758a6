"""IMER tables (mer.report.imer) from fake trial JSONs, and the workflow fan-out (mer.incremental.plan)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mer.atomic import write_json
from mer.errors import ConfigError, InputDataError
from mer.incremental import plan
from mer.incremental.config import benchmark_config
from mer.incremental.learner import register_learner
from mer.incremental.metrics import trial_metrics
from mer.report.imer import build_imer_report
from tests.test_incremental_sessions import SESSIONS, TRIVIAL, NearestMean, tiny_params

OTHER = "test_report_other"
register_learner(OTHER)(type("Other", (NearestMean,), {}))
LABELS = [[0, 1], [2, 2], [4, 5, 5, 6], [7, 8]]


def _predictions(score: int) -> list[list[list[int]]]:
    """After session t: session j's labels with the first `score` predictions of each part right, the rest 3."""
    return [[[y if i < score else 3 for i, y in enumerate(LABELS[j])] for j in range(t + 1)] for t in range(4)]


def fake_result(trial: plan.Trial, score: int, folds_hash: str = "f" * 64, majority: int = 0) -> dict[str, Any]:
    """A trial JSON with what the report reads; accuracy set by `score`, the majority reference's by `majority`."""
    metrics = trial_metrics(_predictions(score), LABELS, 9)
    return {
        "benchmark": trial.benchmark,
        "protocol": trial.protocol,
        "backbone": trial.backbone,
        "learner": trial.learner,
        "fold": trial.fold,
        "seed": 0,
        "sessions": [
            {"dataset": d, "memory": 2 * t, "parameters": {"total": 1000 * (t + 1)}} for t, d in enumerate(SESSIONS)
        ],
        "input": {"kind": "apex_frame", "size": 8, "scaling": "RGB / 255, then ImageNet mean/std"},
        "label_space": {"global_names": ["disgust", "happiness", "others", "repression", "surprise", "anger",
                                         "contempt", "sad", "fear"]},  # fmt: skip
        "counts": [{"session": 1, "dataset": "casme2", "emotion": "fear", "global_emotion": "", "status": "dropped",
                    "n_manifest": 2, "n_used": 0, "n_scheme_excluded": 0, "note": ""}],  # fmt: skip
        "folds": {"protocol": trial.protocol, "level": "subject", "n_folds": 2, "seed": 0, "hash": folds_hash},
        "metrics": metrics,
        "baselines": {"majority": trial_metrics(_predictions(majority), LABELS, 9)},
        "weights": {"sha256": "a" * 64} if trial.backbone == "vit" else None,
        "config": {"learner": {"backbone": "resnet18", "head": "rch", "rch_aggregation": "sum", "memory": 0}},
        "runtime": {"git_commit": "abc123"},
    }


@pytest.fixture
def params() -> dict[str, Any]:
    return tiny_params(
        protocols=[{"name": "slcv", "n_folds": 2, "seed": 0}],
        learners=[TRIVIAL, OTHER],
        backbones={"resnet": {"model": "resnet18"}, "vit": {"model": "vit_base_patch16_224", "pretrained": "w.pth"}},
    )


def test_plan_fans_out_and_lists_inputs(params: dict[str, Any]) -> None:
    trials = plan.trials(params, "tiny")
    assert len(trials) == 1 * 2 * 2 * 2  # protocols × backbones × learners × folds
    assert trials[0].path == f"results/incremental/tiny/slcv/resnet/{TRIVIAL}/fold-0.json"
    subjects = {d: ["s1", "s2"] for d in SESSIONS}
    inputs = plan.trial_inputs(params, "tiny", "vit", subjects)
    assert "data/interim/casme2/manifest.json" in inputs and "data/interim/mmew/faces/s2.h5" in inputs
    assert "data/interim/casme3_a/keyframes.csv" in inputs and inputs[-1] == "w.pth"
    assert not any("flow" in path for path in inputs)
    assert plan.table_outputs("tiny") == [
        "results/tables/imer_tiny.md",
        "results/tables/imer_tiny.csv",
        "results/tables/imer_tiny.counts.csv",
    ]
    assert plan.job_resources(params, "tiny")["gpu"] == 0


def test_excluded_pairs_are_not_planned(params: dict[str, Any]) -> None:
    params["incremental"]["tiny"]["exclude"] = [{"learner": OTHER, "backbone": "resnet"}]
    trials = plan.trials(params, "tiny")
    assert len(trials) == 3 * 2 and all((t.learner, t.backbone) != (OTHER, "resnet") for t in trials)
    with pytest.raises(ConfigError, match="is not run"):
        benchmark_config(params, "tiny").learner_config(OTHER, "resnet", 3, "cpu")
    params["incremental"]["tiny"]["exclude"] = [{"learner": OTHER, "backbone": "swin"}]
    with pytest.raises(ConfigError, match="does not run"):
        plan.trials(params, "tiny")


def test_table_from_fake_results(params: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for trial in plan.trials(params, "tiny"):
        write_json(trial.path, fake_result(trial, score=2 if trial.fold == 0 else 1))
    markdown = build_imer_report(params, "tiny")
    # fold 0 (2 right per part): S = 100, 100, 6/8, 8/10; fold 1 (1 right per part): S = 50, 50, 3/8, 4/10
    assert (
        "| resnet | test_nearest_mean | rch/sum | 0 | 75.0 ± 35.4 | 75.0 ± 35.4 | 56.2 ± 26.5 | 60.0 ± 28.3 |"
        in markdown
    )
    assert "## SLCV (2 folds, seed 0, subject-level; folds hash ffffffffffff)" in markdown
    assert "### slcv / vit / test_report_other" in markdown and "Appendix C: label counts" in markdown
    # the majority reference (every prediction 3, never a label) heads the table; its histogram puts all on 3
    assert "| — | majority class | — | — | 0.0 ± 0.0 | 0.0 ± 0.0 | 0.0 ± 0.0 | 0.0 ± 0.0 |" in markdown
    assert "| majority class |  | S1 | 0 | 0 | 0 | 4 | 0 | 0 | 0 | 0 | 0 |" in markdown
    assert "| truth |  | S4 | 2 | 2 | 4 | 0 | 2 | 4 | 2 | 2 | 2 |" in markdown
    # fold 0 gets both S1 samples right, fold 1 predicts 3 for the second
    assert "| resnet | test_nearest_mean | S1 | 2 | 1 | 0 | 1 | 0 | 0 | 0 | 0 | 0 |" in markdown
    frame = pd.read_csv(tmp_path / "results/tables/imer_tiny.csv")
    assert len(frame) == 5 and frame.loc[0, "learner"] == "majority class"
    assert set(frame["backbone"].dropna()) == {"resnet", "vit"}
    row = frame[(frame["backbone"] == "vit") & (frame["learner"] == OTHER)].iloc[0]
    assert row["last_accuracy_mean"] == pytest.approx((0.8 + 0.4) / 2)
    assert row["s3_mmew_mean"] == pytest.approx((0.75 + 0.375) / 2)
    assert row["exemplars_last"] == 6 and row["weights_sha256"] == "a" * 64
    counts = pd.read_csv(tmp_path / "results/tables/imer_tiny.counts.csv")
    assert counts.loc[0, "emotion"] == "fear"


def test_table_refuses_stale_or_missing_results(
    params: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    trials = plan.trials(params, "tiny")
    for trial in trials:
        write_json(trial.path, fake_result(trial, score=2))
    write_json(trials[-1].path, fake_result(trials[-1], score=2, folds_hash="e" * 64))
    with pytest.raises(InputDataError, match="folds hash differs"):
        build_imer_report(params, "tiny")
    write_json(trials[-1].path, fake_result(trials[-1], score=2, majority=1))
    with pytest.raises(InputDataError, match="majority-class reference differs"):
        build_imer_report(params, "tiny")
    del (stale := fake_result(trials[-1], score=2))["baselines"]
    write_json(trials[-1].path, stale)
    with pytest.raises(InputDataError, match="no majority-class reference"):
        build_imer_report(params, "tiny")
    wrong = fake_result(trials[-1], score=2)
    wrong["fold"] = 0
    write_json(trials[-1].path, wrong)
    with pytest.raises(InputDataError, match="its path names"):
        build_imer_report(params, "tiny")
    Path(trials[-1].path).unlink()
    with pytest.raises(InputDataError, match="result missing"):
        build_imer_report(params, "tiny")
    assert not (tmp_path / "results/tables/imer_tiny.md").exists()
