"""Nested hyper-parameter selection (experiments.<name>.tuning): inner folds of training subjects only,
every epoch budget scored from one run, the chosen candidate trained exactly, and parse-time checks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml

from mer import config
from mer.errors import ConfigError, InputDataError
from mer.protocols import loso_folds
from mer.training import grid, train_fold
from mer.training import tuning as tuning_module
from mer.training.loop import tune_fold
from mer.training.methods import create_method
from mer.training.runtime import resolve_device
from mer.training.validation import inner_folds
from tests.test_training import EXPERIMENT, SUBJECTS, flow_paths, make_corpus, run
from tests.test_training_options import spy_loaded_subjects

REPO = Path(__file__).resolve().parents[1]
TUNING = {"inner_folds": 3, "seed": 0, "grid": {"lr": [0.001, 0.01], "epochs": [1, 3]}}


@pytest.fixture()
def corpus(tmp_path: Path) -> tuple[Path, pd.DataFrame, dict]:
    manifest = make_corpus(tmp_path)
    return tmp_path, manifest, loso_folds(manifest)


def test_schema_grid_keys_are_the_tunable_keys() -> None:
    schema = yaml.safe_load((REPO / "mer/schemas/params.schema.yaml").read_text())
    spec = schema["$defs"]["experiment"]["properties"]["tuning"]["oneOf"][1]
    assert tuple(spec["properties"]["grid"]["properties"]) == grid.TUNABLE


def test_candidates_put_epoch_budgets_innermost_in_listed_order() -> None:
    experiment = {**EXPERIMENT, "tuning": {**TUNING, "grid": {"epochs": [4, 2], "weight_decay": [0.0, 0.1], "lr": [1, 2]}}}
    found = grid.candidates(experiment)
    assert found[:3] == [
        {"lr": 1, "weight_decay": 0.0, "epochs": 4},
        {"lr": 1, "weight_decay": 0.0, "epochs": 2},
        {"lr": 1, "weight_decay": 0.1, "epochs": 4},
    ]
    assert len(found) == 8
    assert grid.candidates({**EXPERIMENT, "tuning": {**TUNING, "grid": {"lr": [0.5]}}}) == [{"lr": 0.5, "epochs": 6}]


def test_inner_folds_deal_whole_training_subjects_once_each(corpus) -> None:
    _, manifest, _ = corpus
    train = manifest[manifest["subject"] != "sub01"].reset_index(drop=True)
    folds = inner_folds(train, 3, 0, "toy-sub01")
    subjects = [set(train.iloc[f]["subject"]) for f in folds]
    assert all(len(s) == 1 for s in subjects) and set.union(*subjects) == set(SUBJECTS) - {"sub01"}
    assert sorted(i for f in folds for i in f) == list(range(len(train)))
    assert [f.tolist() for f in inner_folds(train, 3, 0, "x")] == [f.tolist() for f in folds]
    with pytest.raises(InputDataError, match="toy-sub01.*inner_folds is 4.*only 3"):
        inner_folds(train, 4, 0, "toy-sub01")


def _select(manifest: pd.DataFrame, root: Path, experiment: dict) -> dict:
    train = manifest[manifest["subject"] != "sub01"].reset_index(drop=True)
    method = create_method(experiment)
    inputs = method.inputs(train, experiment, flow_paths(root))
    labels = torch.tensor(train["label_index"].to_numpy())
    return tuning_module.select(method, experiment, train, inputs, labels, 3, "toy-sub01", 1, resolve_device("cpu"))


def test_one_run_scores_every_epoch_budget_exactly(corpus) -> None:
    root, manifest, _ = corpus
    both = _select(manifest, root, {**EXPERIMENT, "tuning": TUNING})
    alone = _select(manifest, root, {**EXPERIMENT, "tuning": {**TUNING, "grid": {"lr": [0.001, 0.01], "epochs": [1]}}})
    assert [s for s in both["scores"] if s["epochs"] == 1] == alone["scores"]
    assert [(s["lr"], s["epochs"]) for s in both["scores"]] == [(0.001, 1), (0.001, 3), (0.01, 1), (0.01, 3)]
    best = max(both["scores"], key=lambda s: s["uf1"])
    first_best = next(s for s in both["scores"] if s["uf1"] == best["uf1"])
    assert both["chosen"] == {"lr": first_best["lr"], "epochs": first_best["epochs"]}
    assert sorted(sum(both["inner_folds"], [])) == ["toy/sub02", "toy/sub03", "toy/sub04"]
    # the scores differ between candidates: the grid is a real choice, not a constant
    assert len({(s["uf1"], s["train_loss"]) for s in both["scores"]}) > 1


def test_a_tuned_job_trains_the_chosen_candidate_and_never_reads_the_test_fold(corpus, monkeypatch) -> None:
    root, manifest, folds = corpus
    loaded = spy_loaded_subjects(monkeypatch)
    tuned = run(root, manifest, folds, "tuned", tuning=TUNING)
    assert loaded[-1] == {"sub01"} and all("sub01" not in subjects for subjects in loaded[:-1])
    log = json.loads((tuned / "log.json").read_text())
    chosen = log["tuning"]["chosen"]
    assert log["experiment"]["lr"] == chosen["lr"] and log["selected_epoch"] == chosen["epochs"]
    assert "nested selection" in log["selection"] and len(log["epochs"]) == chosen["epochs"]
    fixed = run(root, manifest, folds, "fixed", **chosen)
    assert (tuned / "predictions.csv").read_bytes() == (fixed / "predictions.csv").read_bytes()

    def refuse(*args, **kwargs):
        raise AssertionError("tuning repeated although tuning.json matches")

    monkeypatch.setattr(tuning_module, "select", refuse)
    monkeypatch.setattr("mer.training.loop.select", refuse)
    (tuned / "predictions.csv").unlink()
    run(root, manifest, folds, "tuned", tuning=TUNING)
    assert (tuned / "predictions.csv").read_bytes() == (fixed / "predictions.csv").read_bytes()


def test_every_seed_of_a_fold_trains_the_one_shared_choice(corpus, monkeypatch) -> None:
    root, manifest, folds = corpus
    experiment = {**EXPERIMENT, "tuning": TUNING}
    shared = root / "tuning" / "fold-toy-sub01.json"
    record = tune_fold(manifest, folds, "toy-sub01", experiment, flow_paths(root), shared, threads=1, device="cpu")
    stored = shared.read_bytes()

    def refuse(*args, **kwargs):
        raise AssertionError("a seed's job repeated the shared selection")

    monkeypatch.setattr("mer.training.loop.select", refuse)
    for seed in (0, 1):
        out = root / f"seed{seed}"
        train_fold(manifest, folds, "toy-sub01", experiment, flow_paths(root), seed, out,
                   threads=1, device="cpu", tuning_file=shared)
        log = json.loads((out / "log.json").read_text())
        assert log["tuning"] == json.loads(json.dumps(record)) and log["seed"] == seed
        assert not (out / "tuning.json").exists()
    assert shared.read_bytes() == stored
    # the seeds differ in their final run only, so their predictions differ
    assert (root / "seed0/predictions.csv").read_bytes() != (root / "seed1/predictions.csv").read_bytes()


def test_tuning_with_inner_validation_is_refused_at_parse_time() -> None:
    params = config.load(REPO / "params.yaml")
    name = next(iter(params["experiments"]))
    params["experiments"][name]["tuning"] = TUNING
    config.validate(params)
    params["experiments"][name]["inner_validation"] = {"fraction": 0.3, "seed": 0}
    with pytest.raises(ConfigError, match=f"experiments.{name}: tuning and inner_validation"):
        config.validate(params)
    params["experiments"][name]["tuning"] = {**TUNING, "grid": {"batch_size": [8]}}
    params["experiments"][name].pop("inner_validation")
    with pytest.raises(ConfigError, match="tuning"):
        config.validate(params)
