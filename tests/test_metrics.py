"""Pooled MEGC metrics against scikit-learn, the absent-class rule, uncertainty, experiment evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score
from sklearn.metrics import confusion_matrix as sk_confusion

from mer.errors import InputDataError
from mer.metrics import (
    FOLD_MEAN_LABEL,
    accuracy,
    confusion_matrix,
    evaluate_experiment,
    majority_baseline,
    mean_sd,
    per_class_recall,
    subject_bootstrap,
    uar,
    uf1,
)
from mer.protocols import loso_folds, write_folds

LABELS = [0, 1, 2, 3, 4]


@pytest.mark.parametrize("seed", range(5))
def test_pooled_metrics_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 5, size=200)
    y_pred = np.where(rng.random(200) < 0.5, y_true, rng.integers(0, 5, size=200))
    assert uf1(y_true, y_pred, LABELS) == pytest.approx(f1_score(y_true, y_pred, labels=LABELS, average="macro"))
    assert uar(y_true, y_pred, LABELS) == pytest.approx(recall_score(y_true, y_pred, labels=LABELS, average="macro"))
    assert accuracy(y_true, y_pred) == pytest.approx(accuracy_score(y_true, y_pred))
    assert (confusion_matrix(y_true, y_pred, LABELS) == sk_confusion(y_true, y_pred, labels=LABELS)).all()


def test_class_absent_from_both_vectors_is_skipped_not_zero() -> None:
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 4, size=100)  # class 4 never occurs
    y_pred = np.where(rng.random(100) < 0.6, y_true, rng.integers(0, 4, size=100))
    present = [0, 1, 2, 3]
    assert uf1(y_true, y_pred, LABELS) == pytest.approx(f1_score(y_true, y_pred, labels=present, average="macro"))
    assert uar(y_true, y_pred, LABELS) == pytest.approx(recall_score(y_true, y_pred, labels=present, average="macro"))
    scored_as_zero = f1_score(y_true, y_pred, labels=LABELS, average="macro", zero_division=0)
    assert uf1(y_true, y_pred, LABELS) > scored_as_zero
    assert per_class_recall(y_true, y_pred, LABELS)[4] is None


def test_class_only_predicted_counts_in_uf1_not_in_uar() -> None:
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 3, 1, 1, 2, 0])
    predicted_or_true, true_only = [0, 1, 2, 3], [0, 1, 2]
    expected_uf1 = f1_score(y_true, y_pred, labels=predicted_or_true, average="macro")
    assert uf1(y_true, y_pred, LABELS) == pytest.approx(expected_uf1)
    assert uar(y_true, y_pred, LABELS) == pytest.approx(recall_score(y_true, y_pred, labels=true_only, average="macro"))
    assert uar(y_true, y_pred, LABELS) == pytest.approx((0.5 + 1 + 0.5) / 3)


def test_hand_computed_example() -> None:
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    f1 = [2 * 2 / (4 + 0 + 1), 2 * 1 / (2 + 1 + 1), 2 * 1 / (2 + 1 + 0)]
    assert uf1(y_true, y_pred, [0, 1, 2]) == pytest.approx(sum(f1) / 3)
    assert uar(y_true, y_pred, [0, 1, 2]) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert accuracy(y_true, y_pred) == pytest.approx(4 / 6)


def test_labels_outside_the_scheme_are_refused() -> None:
    with pytest.raises(ValueError, match=r"labels \[7\]"):
        uf1([0, 7], [0, 1], [0, 1])
    with pytest.raises(ValueError, match="no predictions"):
        uar([], [], [0, 1])


def test_mean_sd_uses_sample_sd() -> None:
    assert mean_sd([0.5, 0.7, 0.9]) == {"mean": pytest.approx(0.7), "sd": pytest.approx(0.2), "n_seeds": 3}
    assert mean_sd([0.6]) == {"mean": 0.6, "sd": None, "n_seeds": 1}


def _run(rng: np.random.Generator, subjects: int = 8, per_subject: int = 6, skill: float = 0.6) -> pd.DataFrame:
    rows = []
    for s in range(subjects):
        for k in range(per_subject):
            label = int(rng.integers(0, 3))
            pred = label if rng.random() < skill else int(rng.integers(0, 3))
            rows.append({"dataset": "toy", "subject": f"sub{s:02d}", "label_index": label, "pred_index": pred})
    return pd.DataFrame(rows)


def test_subject_bootstrap_is_seeded_and_brackets_the_estimate() -> None:
    run = _run(np.random.default_rng(0))
    first = subject_bootstrap([run], [0, 1, 2], n_boot=500, seed=1)
    assert first == subject_bootstrap([run], [0, 1, 2], n_boot=500, seed=1)
    assert first != subject_bootstrap([run], [0, 1, 2], n_boot=500, seed=2)
    point = uf1(run["label_index"], run["pred_index"], [0, 1, 2])
    assert first["uf1"]["low"] <= point <= first["uf1"]["high"]
    assert first["uf1"]["low"] < first["uf1"]["high"]
    perfect = run.assign(pred_index=run["label_index"])
    assert subject_bootstrap([perfect], [0, 1, 2], n_boot=100)["uar"] == {"low": 1.0, "high": 1.0}


def test_subject_bootstrap_resamples_whole_subjects() -> None:
    # one subject always right, one always wrong: any draw's accuracy is 0, 1/2 or 1
    run = pd.DataFrame(
        {
            "dataset": "toy",
            "subject": ["a"] * 3 + ["b"] * 3,
            "label_index": [0, 1, 2] * 2,
            "pred_index": [0, 1, 2, 1, 2, 0],
        }
    )
    ci = subject_bootstrap([run], [0, 1, 2], n_boot=400, seed=0, level=0.5)
    assert ci["accuracy"]["low"] in (0.0, 0.5) and ci["accuracy"]["high"] in (0.5, 1.0)


SUBJECTS = ["sub01", "sub02", "sub03"]
CLASSES = ["negative", "positive", "surprise"]


def write_experiment(root: Path, seeds: list[int], skip_class_in: str | None = None) -> dict[int, pd.DataFrame]:
    """folds.json plus seed<s>/fold-<f>/predictions.csv; `skip_class_in` has no class-2 sample."""
    labels = {s: [0, 1, 2, 0] if s != skip_class_in else [0, 1, 1, 0] for s in SUBJECTS}
    manifest = pd.DataFrame([{"dataset": "toy", "subject": s, "clip": f"c{k}"} for s in SUBJECTS for k in range(4)])
    folds = loso_folds(manifest)
    write_folds(folds, root / "folds.json")
    pooled = {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        frames = []
        for subject in SUBJECTS:
            true = np.array(labels[subject])
            logits = rng.normal(size=(4, 3))
            logits[np.arange(4), true] += rng.uniform(0, 2, size=4)
            frame = pd.DataFrame({"dataset": "toy", "subject": subject, "clip": [f"c{k}" for k in range(4)]})
            frame["label_index"] = true
            frame["pred_index"] = logits.argmax(axis=1)
            for c in range(3):
                frame[f"logit_{c}"] = logits[:, c]
            path = root / f"seed{seed}" / f"fold-toy-{subject}" / "predictions.csv"
            path.parent.mkdir(parents=True)
            frame.to_csv(path, index=False)
            frames.append(frame)
        pooled[seed] = pd.concat(frames, ignore_index=True)
    return pooled


def test_evaluate_experiment_pools_folds_per_seed(tmp_path: Path) -> None:
    pooled = write_experiment(tmp_path, [0, 1, 2], skip_class_in="sub02")
    result = evaluate_experiment(tmp_path, CLASSES, n_boot=200)
    assert result["seeds"] == [0, 1, 2] and result["n_folds"] == 3
    for seed, frame in pooled.items():
        entry = result["per_seed"][str(seed)]
        true, pred = frame["label_index"], frame["pred_index"]
        assert entry["uf1"] == pytest.approx(f1_score(true, pred, labels=[0, 1, 2], average="macro"))
        assert entry["uar"] == pytest.approx(recall_score(true, pred, labels=[0, 1, 2], average="macro"))
        assert entry["accuracy"] == pytest.approx(accuracy_score(true, pred))
        assert entry["n"] == 12
        assert np.array_equal(entry["confusion"], sk_confusion(true, pred, labels=[0, 1, 2]))
        assert entry["per_dataset"]["toy"]["uf1"] == entry["uf1"]
    values = [result["per_seed"][str(s)]["uf1"] for s in (0, 1, 2)]
    expected = {"mean": pytest.approx(np.mean(values)), "sd": pytest.approx(np.std(values, ddof=1)), "n_seeds": 3}
    assert result["summary"]["uf1"] == expected
    ci = result["bootstrap_ci"]["uf1"]
    assert 0.0 <= ci["low"] <= ci["high"] <= 1.0
    assert result["fold_mean_uf1"]["label"] == FOLD_MEAN_LABEL
    assert "not comparable to MEGC pooled" in FOLD_MEAN_LABEL


def test_fold_mean_differs_from_pooled_and_skips_a_class_absent_from_a_fold(tmp_path: Path) -> None:
    pooled = write_experiment(tmp_path, [0], skip_class_in="sub02")
    result = evaluate_experiment(tmp_path, CLASSES, n_boot=50)
    frame = pooled[0]
    per_fold = []
    for _, rows in frame.groupby("subject"):
        present = sorted(set(rows["label_index"]) | set(rows["pred_index"]))
        per_fold.append(f1_score(rows["label_index"], rows["pred_index"], labels=present, average="macro"))
    assert result["fold_mean_uf1"]["per_seed"]["0"] == pytest.approx(np.mean(per_fold))
    assert result["fold_mean_uf1"]["mean"] != pytest.approx(result["summary"]["uf1"]["mean"])


def test_evaluate_experiment_can_restrict_seeds(tmp_path: Path) -> None:
    write_experiment(tmp_path, [0, 1])
    assert evaluate_experiment(tmp_path, CLASSES, seeds=[1], n_boot=50)["seeds"] == [1]
    with pytest.raises(InputDataError, match="predictions missing"):
        evaluate_experiment(tmp_path, CLASSES, seeds=[0, 5], n_boot=50)


def test_evaluate_experiment_refuses_a_missing_fold(tmp_path: Path) -> None:
    write_experiment(tmp_path, [0])
    (tmp_path / "seed0" / "fold-toy-sub03" / "predictions.csv").unlink()
    with pytest.raises(InputDataError, match="predictions missing"):
        evaluate_experiment(tmp_path, CLASSES)


def test_evaluate_experiment_refuses_rows_of_another_subject(tmp_path: Path) -> None:
    write_experiment(tmp_path, [0])
    path = tmp_path / "seed0" / "fold-toy-sub01" / "predictions.csv"
    frame = pd.read_csv(path)
    frame.loc[0, "subject"] = "sub02"
    frame.to_csv(path, index=False)
    with pytest.raises(InputDataError, match="outside fold"):
        evaluate_experiment(tmp_path, CLASSES)


def test_evaluate_experiment_refuses_seeds_that_disagree(tmp_path: Path) -> None:
    write_experiment(tmp_path, [0, 1])
    path = tmp_path / "seed1" / "fold-toy-sub01" / "predictions.csv"
    frame = pd.read_csv(path)
    frame.loc[0, "label_index"] = (frame.loc[0, "label_index"] + 1) % 3
    frame.to_csv(path, index=False)
    with pytest.raises(InputDataError, match="different samples or labels"):
        evaluate_experiment(tmp_path, CLASSES)


def test_evaluate_experiment_checks_the_class_count(tmp_path: Path) -> None:
    write_experiment(tmp_path, [0])
    with pytest.raises(InputDataError, match="columns"):
        evaluate_experiment(tmp_path, [*CLASSES, "others"])


def test_majority_baseline_predicts_each_folds_training_majority() -> None:
    """Fold A's training subject (s2) is mostly class 1, fold B's (s1) mostly class 0."""
    pooled = pd.DataFrame(
        {
            "dataset": ["d"] * 6,
            "subject": ["s1", "s1", "s1", "s2", "s2", "s2"],
            "clip": list("abcdef"),
            "label_index": [0, 0, 1, 1, 1, 0],
        }
    )
    folds = {
        "level": "subject",
        "folds": [
            {"name": "A", "train": [["d", "s2"]], "test": [["d", "s1"]]},
            {"name": "B", "train": [["d", "s1"]], "test": [["d", "s2"]]},
        ],
    }
    result = majority_baseline(pooled, folds, ["neg", "pos"])
    # s1 predicted 1 (right once), s2 predicted 0 (right once): accuracy 2/6
    assert result["accuracy"] == pytest.approx(2 / 6)
    assert result["predicted_counts"] == {"neg": 3, "pos": 3}
    assert result["per_dataset"]["d"]["n"] == 6
    assert majority_baseline(pooled, {**folds, "folds": [{**folds["folds"][0], "train": [["d", "s9"]]}]}, ["n", "p"]) is None
