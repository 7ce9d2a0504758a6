"""Evaluation of composite (per-dataset sub-scores) and instance-level (ILCV) experiments, per-subject accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, recall_score

from mer.errors import InputDataError
from mer.metrics import evaluate_experiment
from mer.protocols import make_folds, write_folds

CLASSES = ["negative", "positive", "surprise"]


def manifest() -> pd.DataFrame:
    rows = [(d, s, f"c{k}", k % 3) for d, subs in (("casme2", ["sub01", "sub02"]), ("samm", ["006", "007"]))
            for s in subs for k in range(6)]
    return pd.DataFrame(rows, columns=["dataset", "subject", "clip", "label_index"])


def write_predictions(root: Path, protocol, seed: int = 0) -> tuple[dict, pd.DataFrame]:
    table = manifest()
    folds = make_folds(protocol, table)
    write_folds(folds, root / "folds.json")
    rng = np.random.default_rng(seed)
    width = 2 if folds["level"] == "subject" else 3
    frames = []
    for fold in folds["folds"]:
        test = {tuple(unit) for unit in fold["test"]}
        keys = zip(*(table[c] for c in ["dataset", "subject", "clip"][:width]), strict=True)
        rows = table[[key in test for key in keys]].copy()
        logits = rng.normal(size=(len(rows), 3))
        logits[np.arange(len(rows)), rows["label_index"]] += 1.0
        rows["pred_index"] = logits.argmax(axis=1)
        for c in range(3):
            rows[f"logit_{c}"] = logits[:, c]
        path = root / f"seed{seed}" / f"fold-{fold['name']}" / "predictions.csv"
        path.parent.mkdir(parents=True)
        rows.to_csv(path, index=False)
        frames.append(rows)
    return folds, pd.concat(frames, ignore_index=True)


def test_composite_has_sklearn_equal_per_dataset_sub_scores(tmp_path: Path) -> None:
    _, pooled = write_predictions(tmp_path, "cde")
    result = evaluate_experiment(tmp_path, CLASSES, n_boot=50)
    entry = result["per_seed"]["0"]
    for dataset, rows in pooled.groupby("dataset"):
        sub = entry["per_dataset"][dataset]
        assert sub["uf1"] == pytest.approx(f1_score(rows["label_index"], rows["pred_index"], average="macro"))
        assert sub["uar"] == pytest.approx(recall_score(rows["label_index"], rows["pred_index"], average="macro"))
        assert sub["n"] == len(rows)
    assert result["protocol"] == "cde" and result["level"] == "subject"
    samm = pooled[pooled["subject"] == "006"]
    assert result["per_subject"]["samm/006"] == {
        "n": 6, "accuracy": pytest.approx((samm["label_index"] == samm["pred_index"]).mean())
    }


def test_instance_level_experiment_is_evaluated_and_checked(tmp_path: Path) -> None:
    folds, pooled = write_predictions(tmp_path, {"name": "ilcv", "n_folds": 3})
    result = evaluate_experiment(tmp_path, CLASSES, n_boot=50)
    assert result["level"] == "instance" and result["per_seed"]["0"]["n"] == len(pooled) == 24
    # a prediction for a sample of another fold is refused, even from a subject the fold tests
    path = tmp_path / "seed0" / f"fold-{folds['folds'][0]['name']}" / "predictions.csv"
    frame = pd.read_csv(path, dtype={"subject": str})
    other = folds["folds"][1]["test"][0]
    frame.loc[0, ["dataset", "subject", "clip"]] = other
    frame.to_csv(path, index=False)
    with pytest.raises(InputDataError, match="rows of instances outside fold"):
        evaluate_experiment(tmp_path, CLASSES, n_boot=50)
