"""LOSO folds: keyed on (dataset, subject), deterministic, hashed, and guarded against leakage."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mer.errors import ConfigError, InputDataError
from mer.protocols import (
    FoldError,
    LeakageError,
    check_no_leakage,
    folds_hash,
    loso_folds,
    make_folds,
    planned_fold_names,
    read_folds,
    write_folds,
)


def manifest(pairs: list[tuple[str, str]], clips: int = 2) -> pd.DataFrame:
    rows = [{"dataset": d, "subject": s, "clip": f"c{k}"} for d, s in pairs for k in range(clips)]
    return pd.DataFrame(rows)


COMPOSITE = [("casme2", "sub02"), ("samm", "006"), ("casme2", "sub01"), ("samm", "sub01")]


def test_loso_has_one_fold_per_dataset_subject() -> None:
    folds = loso_folds(manifest(COMPOSITE))
    assert folds["protocol"] == "loso"
    assert [f["name"] for f in folds["folds"]] == ["casme2-sub01", "casme2-sub02", "samm-006", "samm-sub01"]
    first = folds["folds"][0]
    assert first["test"] == [["casme2", "sub01"]]
    assert first["train"] == [["casme2", "sub02"], ["samm", "006"], ["samm", "sub01"]]
    # the same subject folder name in two corpora is two subjects
    assert ["samm", "sub01"] in first["train"]


def test_folds_do_not_depend_on_row_order() -> None:
    table = manifest(COMPOSITE)
    shuffled = table.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert loso_folds(shuffled) == loso_folds(table)
    assert loso_folds(table)["hash"] == folds_hash(loso_folds(table)["folds"])


def test_subject_ids_read_as_numbers_become_strings() -> None:
    table = pd.DataFrame({"dataset": ["samm", "samm"], "subject": [6, 7], "clip": ["a", "b"]})
    assert [f["name"] for f in loso_folds(table)["folds"]] == ["samm-6", "samm-7"]


def test_write_and_read_round_trip(tmp_path: Path) -> None:
    folds = loso_folds(manifest(COMPOSITE))
    write_folds(folds, tmp_path / "folds.json")
    assert read_folds(tmp_path / "folds.json") == folds
    before = (tmp_path / "folds.json").read_bytes()
    write_folds(loso_folds(manifest(COMPOSITE)), tmp_path / "folds.json")
    assert (tmp_path / "folds.json").read_bytes() == before


def test_edited_file_fails_the_hash_check(tmp_path: Path) -> None:
    folds = loso_folds(manifest(COMPOSITE))
    write_folds(folds, tmp_path / "folds.json")
    edited = json.loads((tmp_path / "folds.json").read_text())
    edited["folds"][0]["train"].pop()
    (tmp_path / "folds.json").write_text(json.dumps(edited))
    with pytest.raises(FoldError, match="hash mismatch"):
        read_folds(tmp_path / "folds.json")


def bad(folds_list: list[dict]) -> dict:
    return {"protocol": "loso", "hash": folds_hash(folds_list), "folds": folds_list}


def test_guard_rejects_a_subject_on_both_sides(tmp_path: Path) -> None:
    leaky = bad([{"name": "x", "test": [["casme2", "sub01"]], "train": [["casme2", "sub02"], ["casme2", "sub01"]]}])
    with pytest.raises(LeakageError, match="casme2/sub01"):
        check_no_leakage(leaky)
    with pytest.raises(LeakageError):
        write_folds(leaky, tmp_path / "folds.json")
    assert not (tmp_path / "folds.json").exists()
    (tmp_path / "folds.json").write_text(json.dumps(leaky))
    with pytest.raises(LeakageError):
        read_folds(tmp_path / "folds.json")


def test_guard_compares_subjects_whatever_their_type() -> None:
    leaky = bad([{"name": "x", "test": [["samm", "6"]], "train": [["samm", 6]]}])
    with pytest.raises(LeakageError):
        check_no_leakage(leaky)


def test_guard_accepts_same_subject_name_in_another_dataset() -> None:
    check_no_leakage(bad([{"name": "x", "test": [["casme2", "sub01"]], "train": [["samm", "sub01"]]}]))


def test_guard_rejects_duplicate_names_and_empty_tests() -> None:
    fold = {"name": "x", "test": [["a", "1"]], "train": [["a", "2"]]}
    with pytest.raises(FoldError, match="twice"):
        check_no_leakage(bad([fold, fold]))
    with pytest.raises(FoldError, match="empty test"):
        check_no_leakage(bad([{**fold, "test": []}]))


def test_protocol_registry() -> None:
    table = manifest(COMPOSITE)
    assert make_folds("loso", table) == loso_folds(table)
    with pytest.raises(ConfigError, match="known protocols: cde, hde, ilcv, loso, slcv"):
        make_folds("kfold", table)


def test_planned_fold_names_match_the_written_folds() -> None:
    subjects = {"samm": ["sub01", "006"], "casme2": ["sub02", "sub01"]}
    written = [f["name"] for f in make_folds("loso", manifest(COMPOSITE))["folds"]]
    assert planned_fold_names("loso", subjects) == written


def test_loso_needs_two_subjects() -> None:
    with pytest.raises(InputDataError, match="at least two subjects"):
        loso_folds(manifest([("casme2", "sub01")]))
