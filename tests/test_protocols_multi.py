"""Composite (CDE), holdout-database (HDE) and k-fold (SLCV, ILCV) protocols on hand-made manifests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mer.errors import ConfigError, InputDataError
from mer.protocols import (
    FoldError,
    LeakageError,
    check_no_leakage,
    folds_hash,
    make_folds,
    planned_fold_names,
    read_folds,
    write_folds,
)

SUBJECTS = {"casme2": ["sub01", "sub02", "sub03", "sub04", "sub05", "sub06"], "samm": ["006", "007", "008", "sub01"]}


def manifest(order: tuple[str, ...] = ("casme2", "samm"), clips: int = 3) -> pd.DataFrame:
    rows = [(d, s, f"EP{k}") for d in order for s in SUBJECTS[d] for k in range(clips)]
    return pd.DataFrame(rows, columns=["dataset", "subject", "clip"])


def units(entries: list[list[str]]) -> set[tuple[str, ...]]:
    return {tuple(entry) for entry in entries}


def test_cde_is_loso_over_dataset_subject_pairs_of_several_corpora() -> None:
    folds = make_folds("cde", manifest())
    assert folds["protocol"] == "cde" and folds["level"] == "subject"
    assert len(folds["folds"]) == 10
    samm_sub01 = next(f for f in folds["folds"] if f["name"] == "samm-sub01")
    assert samm_sub01["test"] == [["samm", "sub01"]] and ["casme2", "sub01"] in samm_sub01["train"]
    with pytest.raises(InputDataError, match="at least two datasets"):
        make_folds("cde", manifest(("casme2",)))


def test_hde_holds_out_each_corpus() -> None:
    folds = make_folds("hde", manifest())
    assert [f["name"] for f in folds["folds"]] == ["holdout-casme2", "holdout-samm"]
    held = folds["folds"][1]
    assert {d for d, _ in held["test"]} == {"samm"} and {d for d, _ in held["train"]} == {"casme2"}
    assert len(held["test"]) == 4 and len(held["train"]) == 6


@pytest.mark.parametrize("name", ["slcv", "ilcv"])
def test_kfold_covers_every_unit_once_per_session_and_binds_folds(name: str) -> None:
    table = manifest()
    folds = make_folds({"name": name, "n_folds": 3, "seed": 7}, table)
    width = 2 if name == "slcv" else 3
    assert folds["level"] == ("subject" if name == "slcv" else "instance")
    assert [f["name"] for f in folds["folds"]] == [f"{name}-k0", f"{name}-k1", f"{name}-k2"]
    everything = {tuple(row[:width]) for row in table.itertuples(index=False)}
    tested = [unit for fold in folds["folds"] for unit in units(fold["test"])]
    assert sorted(tested) == sorted(everything)  # each unit tested exactly once
    for fold in folds["folds"]:
        assert [s["dataset"] for s in fold["sessions"]] == ["casme2", "samm"]
        for session in fold["sessions"]:  # fold binding: fold k holds part k of every session
            assert {u[0] for u in units(session["test"]) | units(session["train"])} == {session["dataset"]}
            assert units(session["test"]).isdisjoint(units(session["train"]))
        assert units(fold["test"]) == set().union(*(units(s["test"]) for s in fold["sessions"]))
        assert units(fold["train"]) == everything - units(fold["test"])


def test_kfold_is_deterministic_seeded_and_row_order_free() -> None:
    table = manifest()
    spec = {"name": "slcv", "n_folds": 2, "seed": 1}
    shuffled = table.sample(frac=1.0, random_state=0)
    assert make_folds(spec, shuffled) == make_folds(spec, table)
    assert make_folds({**spec, "seed": 2}, table)["hash"] != make_folds(spec, table)["hash"]


def test_session_order_follows_the_experiment_datasets() -> None:
    folds = make_folds({"name": "slcv", "n_folds": 2}, manifest(("samm", "casme2")))
    assert [s["dataset"] for s in folds["folds"][0]["sessions"]] == ["samm", "casme2"]


def test_slcv_is_subject_disjoint_but_ilcv_mixes_subjects() -> None:
    slcv = make_folds({"name": "slcv", "n_folds": 2}, manifest())
    for fold in slcv["folds"]:
        assert units(fold["train"]).isdisjoint(units(fold["test"]))
    ilcv = make_folds({"name": "ilcv", "n_folds": 2}, manifest())
    mixed = [
        {u[:2] for u in units(f["train"])} & {u[:2] for u in units(f["test"])} for f in ilcv["folds"]
    ]
    assert any(mixed)  # instance level is not subject-independent, and says so via "level"


def test_kfold_refuses_too_few_units_at_plan_time() -> None:
    with pytest.raises(InputDataError, match="cannot fill 5 folds"):
        planned_fold_names({"name": "slcv", "n_folds": 5}, SUBJECTS)
    assert planned_fold_names({"name": "ilcv", "n_folds": 5}, SUBJECTS)[-1] == "ilcv-k4"


@pytest.mark.parametrize("protocol", ["cde", "hde", {"name": "slcv", "n_folds": 2}, {"name": "ilcv", "seed": 3}])
def test_planned_names_match_written_folds(protocol) -> None:
    written = [f["name"] for f in make_folds(protocol, manifest())["folds"]]
    assert planned_fold_names(protocol, SUBJECTS) == written


def test_options_are_refused_where_they_mean_nothing() -> None:
    with pytest.raises(ConfigError, match="takes no options"):
        make_folds({"name": "loso", "n_folds": 3}, manifest())


def test_guard_rejects_a_session_leak_and_a_shared_sample(tmp_path: Path) -> None:
    folds = make_folds({"name": "slcv", "n_folds": 2}, manifest())
    bad = [dict(fold) for fold in folds["folds"]]
    session = dict(bad[0]["sessions"][1])
    session["train"] = session["train"] + session["test"][:1]
    bad[0]["sessions"] = [bad[0]["sessions"][0], session]
    with pytest.raises(LeakageError, match="slcv-k0/samm"):
        check_no_leakage({**folds, "folds": bad, "hash": folds_hash(bad)})

    ilcv = make_folds({"name": "ilcv", "n_folds": 2}, manifest())
    bad = [dict(fold) for fold in ilcv["folds"]]
    bad[1]["train"] = bad[1]["train"] + bad[1]["test"][:1]
    leaky = {**ilcv, "folds": bad, "hash": folds_hash(bad)}
    with pytest.raises(LeakageError, match="instances in both"):
        write_folds(leaky, tmp_path / "folds.json")
    assert not (tmp_path / "folds.json").exists()


def test_guard_refuses_entries_of_the_wrong_level(tmp_path: Path) -> None:
    folds = make_folds({"name": "ilcv", "n_folds": 2}, manifest())
    write_folds(folds, tmp_path / "folds.json")
    assert read_folds(tmp_path / "folds.json") == folds
    with pytest.raises(FoldError, match="entries of 2 parts"):
        check_no_leakage({**folds, "level": "subject"})


def test_params_schema_accepts_the_new_experiment_keys() -> None:
    from mer import config

    params = config.load("params.yaml")
    base = next(iter(params["experiments"].values()))
    good = {
        **base,
        "group": "megc",
        "protocol": {"name": "slcv", "n_folds": 5, "seed": 0},
        "model": "convnext_tiny",
        "model_kwargs": {"drop_path_rate": 0.1},
        "pretrained": "weights/convnext_tiny.safetensors",
        "input": "rise_fall_diff",
        "inner_validation": {"fraction": 0.2, "seed": 0},
        "resources": {"mem_mb": 8000, "runtime": 120, "gpu": 1},
    }
    config.validate({**params, "experiments": {"x": good}})
    for bad in ({"protocol": {"name": "loso"}}, {"protocol": "kfold"},
                {"inner_validation": {"fraction": 1.5, "seed": 0}},
                {"input": "farneback_flow"}, {"input": []}, {"resources": {"cpus": 2}}):
        with pytest.raises(ConfigError):
            config.validate({**params, "experiments": {"x": {**base, **bad}}})
