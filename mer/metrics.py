"""Pooled MEGC metrics (UF1, UAR, accuracy), their uncertainty, and the evaluation of an experiment.

Definitions (reference/datasets.md §6.2), over the predictions of **all** LOSO folds pooled:
F1_c = 2·TP_c / (2·TP_c + FP_c + FN_c), UF1 = mean_c F1_c; Recall_c = TP_c / N_c, UAR =
mean_c Recall_c; accuracy = correct / total.

A class of the scheme that is undefined for a metric is left out of that metric's mean,
never scored 0: UF1 averages the classes that occur in y_true or y_pred (2TP+FP+FN > 0);
UAR the classes that occur in y_true (N_c > 0). A class absent from both vectors is thus
skipped, as STSTNet/HTNet's `recognition_evaluation` does; this equals scikit-learn's
``f1_score(labels=<classes present>, average="macro")`` and
``recall_score(labels=<classes in y_true>, average="macro")``. A class that is predicted
but never true counts in UF1 with F1 = 0. Which classes were scored is reported.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mer.errors import InputDataError
from mer.protocols.folds import LEVELS, level_of, member_keys, read_folds

FOLD_MEAN_LABEL = "fold-mean UF1 (mean of per-fold macro-F1): not comparable to MEGC pooled numbers"
KEY_COLUMNS = ["dataset", "subject", "clip"]
METRICS = ("uf1", "uar", "accuracy")
BOOTSTRAP_LEVEL = 0.95


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int]) -> np.ndarray:
    """C×C counts, rows = true class, columns = predicted class, in `labels` order."""
    position = {label: i for i, label in enumerate(labels)}
    true, pred = np.asarray(y_true), np.asarray(y_pred)
    if true.shape != pred.shape:
        raise ValueError(f"y_true has {true.size} entries, y_pred {pred.size}")
    unknown = sorted(set(true.tolist()) - set(position) | set(pred.tolist()) - set(position))
    if unknown:
        raise ValueError(f"labels {unknown} are not in the scheme's labels {list(labels)}")
    cm = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(cm, ([position[v] for v in true.tolist()], [position[v] for v in pred.tolist()]), 1)
    return cm


def f1_per_class(cm: np.ndarray) -> np.ndarray:
    """F1_c for each class of (…, C, C) confusion matrices; NaN where 2TP+FP+FN = 0."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(float)
    denominator = cm.sum(axis=-1) + cm.sum(axis=-2)  # (TP+FN) + (TP+FP) = 2TP + FP + FN
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, 2 * tp / denominator, np.nan)


def recall_per_class(cm: np.ndarray) -> np.ndarray:
    """Recall_c = TP_c / N_c for each class of (…, C, C) confusion matrices; NaN where N_c = 0."""
    tp = np.diagonal(cm, axis1=-2, axis2=-1).astype(float)
    support = cm.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, tp / support, np.nan)


def _defined_mean(values: np.ndarray) -> np.ndarray:
    """Mean over the last axis ignoring NaN (undefined classes); NaN only if nothing is defined."""
    defined = ~np.isnan(values)
    count = defined.sum(axis=-1)
    total = np.where(defined, values, 0.0).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def scores_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """UF1, UAR and accuracy of (…, C, C) confusion matrices (broadcasts over leading axes)."""
    total = cm.sum(axis=(-2, -1))
    correct = np.diagonal(cm, axis1=-2, axis2=-1).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(total > 0, correct / np.maximum(total, 1), np.nan)
    return {"uf1": _defined_mean(f1_per_class(cm)), "uar": _defined_mean(recall_per_class(cm)), "accuracy": acc}


def _score(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int], metric: str) -> float:
    if len(y_true) == 0:
        raise ValueError("no predictions to score")
    return float(scores_from_confusion(confusion_matrix(y_true, y_pred, labels))[metric])


def uf1(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int]) -> float:
    """Unweighted F1: mean F1_c over `labels` that occur in y_true or y_pred."""
    return _score(y_true, y_pred, labels, "uf1")


def uar(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int]) -> float:
    """Unweighted average recall: mean TP_c / N_c over `labels` that occur in y_true."""
    return _score(y_true, y_pred, labels, "uar")


def accuracy(y_true: Sequence[int], y_pred: Sequence[int]) -> float:
    """Fraction of correct predictions (weighted average recall, WAR)."""
    true, pred = np.asarray(y_true), np.asarray(y_pred)
    if true.size == 0:
        raise ValueError("no predictions to score")
    return float((true == pred).mean())


def per_class_recall(y_true: Sequence[int], y_pred: Sequence[int], labels: Sequence[int]) -> dict[int, float | None]:
    """Recall of each label; None for a label with no true sample."""
    recall = recall_per_class(confusion_matrix(y_true, y_pred, labels))
    return {label: None if np.isnan(value) else float(value) for label, value in zip(labels, recall, strict=True)}


def mean_sd(values: Sequence[float]) -> dict[str, Any]:
    """Mean and sample SD (ddof = 1; None for a single value) with the count."""
    array = np.asarray(values, dtype=float)
    sd = float(array.std(ddof=1)) if array.size > 1 else None
    return {"mean": float(array.mean()), "sd": sd, "n_seeds": int(array.size)}


def subject_bootstrap(
    runs: Sequence[pd.DataFrame],
    labels: Sequence[int],
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, dict[str, float]]:
    """Percentile CI of the seed-mean pooled metrics, resampling subjects with replacement.

    `runs` holds one pooled prediction table per seed (columns dataset, subject,
    label_index, pred_index). Each draw picks subjects with replacement; the same draw is
    applied to every seed, the pooled metric is computed per seed and averaged over seeds.
    """
    subjects = sorted({(d, s) for run in runs for d, s in zip(run["dataset"], run["subject"], strict=True)})
    index = {key: i for i, key in enumerate(subjects)}
    per_subject = np.zeros((len(runs), len(subjects), len(labels), len(labels)), dtype=np.int64)
    for r, run in enumerate(runs):
        for (dataset, subject), rows in run.groupby(["dataset", "subject"], sort=True):
            cm = confusion_matrix(rows["label_index"], rows["pred_index"], labels)
            per_subject[r, index[(dataset, subject)]] = cm
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(subjects), size=(n_boot, len(subjects)))
    weights = np.stack([np.bincount(draw, minlength=len(subjects)) for draw in draws])
    pooled = np.einsum("bs,rscd->brcd", weights, per_subject)
    tail = 100 * (1 - level) / 2
    out = {}
    for metric, values in scores_from_confusion(pooled).items():
        seed_mean = _defined_mean(values)
        low, high = np.nanpercentile(seed_mean, [tail, 100 - tail])
        out[metric] = {"low": float(low), "high": float(high)}
    return out


def _read_predictions(path: Path, fold: dict[str, Any], n_classes: int, level: str) -> pd.DataFrame:
    """One fold's predictions.csv, checked against the fold's test units and the class count."""
    if not path.is_file():
        raise InputDataError("predictions missing (has the fold been trained?)", path=str(path))
    frame = pd.read_csv(path, dtype={column: str for column in KEY_COLUMNS})
    logits = [f"logit_{c}" for c in range(n_classes)]
    expected = [*KEY_COLUMNS, "label_index", "pred_index", *logits]
    if list(frame.columns) != expected:
        raise InputDataError(f"columns {list(frame.columns)} differ from {expected}", path=str(path))
    for column in ("label_index", "pred_index"):
        bad = ~frame[column].between(0, n_classes - 1)
        if bad.any():
            clip = frame.loc[bad, "clip"].iloc[0]
            raise InputDataError(f"{column} outside 0..{n_classes - 1}", path=str(path), clip=clip)
    units = set(zip(*(frame[c] for c in KEY_COLUMNS[: LEVELS[level]]), strict=True))
    strangers = units - member_keys(fold["test"], level)
    if strangers:
        raise InputDataError(f"rows of {level}s outside fold {fold['name']!r}: {sorted(strangers)}", path=str(path))
    return frame.assign(fold=fold["name"])


def _seed_dirs(experiment_dir: Path, seeds: Sequence[int] | None) -> dict[int, Path]:
    if seeds is None:
        found = (re.fullmatch(r"seed(\d+)", p.name) for p in experiment_dir.iterdir() if p.is_dir())
        seeds = sorted(int(m.group(1)) for m in found if m)
    if not seeds:
        raise InputDataError("no seed<s>/ folders with predictions", path=str(experiment_dir))
    return {seed: experiment_dir / f"seed{seed}" for seed in sorted(seeds)}


def _headline(cm: np.ndarray) -> dict[str, Any]:
    scores = scores_from_confusion(cm)
    return {**{metric: float(scores[metric]) for metric in METRICS}, "n": int(cm.sum())}


def _by_class(classes: Sequence[str], values: np.ndarray) -> dict[str, float | None]:
    return {name: None if np.isnan(v) else float(v) for name, v in zip(classes, values, strict=True)}


def _seed_entry(pooled: pd.DataFrame, classes: Sequence[str]) -> dict[str, Any]:
    """Pooled scores of one seed, with per-class detail, confusion and per-dataset sub-scores."""
    labels = list(range(len(classes)))
    cm = confusion_matrix(pooled["label_index"], pooled["pred_index"], labels)
    f1, recall = f1_per_class(cm), recall_per_class(cm)
    return {
        **_headline(cm),
        "per_class_recall": _by_class(classes, recall),
        "per_class_f1": _by_class(classes, f1),
        "scored_classes": {
            "uf1": [name for name, value in zip(classes, f1, strict=True) if not np.isnan(value)],
            "uar": [name for name, value in zip(classes, recall, strict=True) if not np.isnan(value)],
        },
        "confusion": cm.tolist(),
        "predicted_counts": dict(zip(classes, cm.sum(axis=0).tolist(), strict=True)),
        "true_counts": dict(zip(classes, cm.sum(axis=1).tolist(), strict=True)),
        "per_dataset": {
            str(dataset): _headline(confusion_matrix(rows["label_index"], rows["pred_index"], labels))
            for dataset, rows in pooled.groupby("dataset", sort=True)
        },
    }


def majority_baseline(pooled: pd.DataFrame, folds: dict[str, Any], classes: Sequence[str]) -> dict[str, Any] | None:
    """Pooled scores of predicting, in every fold, its training samples' most frequent class.

    The training labels are read from the pooled predictions of the fold's training units,
    which is exact when every unit is tested in some fold (LOSO, k-fold, CDE); when a fold's
    training units are never tested (e.g. holdout-database), None. Ties go to the lower index.
    """
    level = level_of(folds)
    units = list(zip(*(pooled[c] for c in KEY_COLUMNS[: LEVELS[level]]), strict=True))
    predicted = np.full(len(pooled), -1)
    for fold in folds["folds"]:
        train, test = member_keys(fold["train"], level), member_keys(fold["test"], level)
        in_train = np.array([unit in train for unit in units])
        if not in_train.any():
            return None
        counts = np.bincount(pooled.loc[in_train, "label_index"], minlength=len(classes))
        predicted[np.array([unit in test for unit in units])] = int(counts.argmax())
    labels = list(range(len(classes)))
    cm = confusion_matrix(pooled["label_index"], predicted, labels)
    return {
        **_headline(cm),
        "per_dataset": {
            str(dataset): _headline(confusion_matrix(rows["label_index"], predicted[rows.index], labels))
            for dataset, rows in pooled.groupby("dataset", sort=True)
        },
        "rule": "each fold predicts its training samples' most frequent class for every test sample",
        "predicted_counts": dict(zip(classes, cm.sum(axis=0).tolist(), strict=True)),
    }


def per_subject_accuracy(runs: Sequence[pd.DataFrame]) -> dict[str, dict[str, Any]]:
    """{"dataset/subject": {"n", "accuracy"}}: each subject's accuracy averaged over seeds."""
    pooled = pd.concat(runs, keys=range(len(runs)), names=["run", None]).reset_index(level=0)
    pooled = pooled.assign(correct=(pooled["label_index"] == pooled["pred_index"]).astype(float))
    out = {}
    for (dataset, subject), rows in pooled.groupby(["dataset", "subject"], sort=True):
        per_run = rows.groupby("run")["correct"].mean()
        out[f"{dataset}/{subject}"] = {"n": int(len(rows) // len(per_run)), "accuracy": float(per_run.mean())}
    return out


def _fold_mean_uf1(pooled: pd.DataFrame, labels: Sequence[int]) -> float:
    """Mean over folds of each fold's own macro-F1 (the non-MEGC number some papers report)."""
    return float(np.mean([uf1(rows["label_index"], rows["pred_index"], labels) for _, rows in pooled.groupby("fold")]))


def _pool_seed(seed: int, seed_dir: Path, folds: dict[str, Any], n_classes: int) -> pd.DataFrame:
    """All folds' predictions of one seed, sorted by sample key; each sample exactly once."""
    frames = [
        _read_predictions(seed_dir / f"fold-{fold['name']}" / "predictions.csv", fold, n_classes, level_of(folds))
        for fold in folds["folds"]
    ]
    pooled = pd.concat(frames, ignore_index=True).sort_values(KEY_COLUMNS, kind="stable").reset_index(drop=True)
    duplicated = pooled.duplicated(KEY_COLUMNS)
    if duplicated.any():
        first = pooled.loc[duplicated].iloc[0]
        raise InputDataError(
            f"sample predicted twice in seed {seed}",
            dataset=first["dataset"],
            subject=first["subject"],
            clip=first["clip"],
        )
    return pooled


def evaluate_experiment(
    experiment_dir: Path,
    classes: list[str],
    *,
    seeds: Sequence[int] | None = None,
    n_boot: int = 2000,
    bootstrap_seed: int = 0,
) -> dict[str, Any]:
    """Pool each seed's fold predictions (folds from experiment_dir/folds.json) and score them.

    `seeds` restricts evaluation to those seed<s>/ folders (all present ones if None). Every
    fold of folds.json must have predictions for every seed, each sample must be predicted
    exactly once per seed, and all seeds must cover the same samples with the same labels.
    """
    experiment_dir = Path(experiment_dir)
    folds = read_folds(experiment_dir / "folds.json")
    seed_dirs = _seed_dirs(experiment_dir, seeds)
    runs = {seed: _pool_seed(seed, path, folds, len(classes)) for seed, path in seed_dirs.items()}
    first_seed, first = next(iter(runs.items()))
    truth = [*KEY_COLUMNS, "label_index"]
    for seed, pooled in runs.items():
        if not pooled[truth].equals(first[truth]):
            raise InputDataError(
                f"seed {seed} covers different samples or labels than seed {first_seed}", path=str(experiment_dir)
            )

    labels = list(range(len(classes)))
    per_seed = {str(seed): _seed_entry(pooled, classes) for seed, pooled in runs.items()}
    fold_means = {str(seed): _fold_mean_uf1(pooled, labels) for seed, pooled in runs.items()}
    return {
        "classes": list(classes),
        "protocol": folds["protocol"],
        "level": level_of(folds),
        "folds_hash": folds["hash"],
        "n_folds": len(folds["folds"]),
        "aggregation": "MEGC pooled: the predictions of all folds concatenated per seed, then scored",
        "class_rule": "a class undefined for a metric is left out of its mean "
        "(UF1: absent from y_true and y_pred; UAR: absent from y_true)",
        "seeds": list(runs),
        "per_seed": per_seed,
        "summary": {metric: mean_sd([entry[metric] for entry in per_seed.values()]) for metric in METRICS},
        "bootstrap_ci": {
            "level": BOOTSTRAP_LEVEL,
            "n_boot": n_boot,
            "seed": bootstrap_seed,
            "unit": "subjects (dataset, subject) resampled with replacement, the same draw for every seed; "
            "interval of the seed-mean pooled metric",
            **subject_bootstrap(
                list(runs.values()), labels, n_boot=n_boot, seed=bootstrap_seed, level=BOOTSTRAP_LEVEL
            ),
        },
        "baselines": {
            "chance_uar": 1 / len(classes),
            "majority_class": majority_baseline(first, folds, classes),
        },
        "per_subject": per_subject_accuracy(list(runs.values())),
        "fold_mean_uf1": {"label": FOLD_MEAN_LABEL, "per_seed": fold_means, **mean_sd(list(fold_means.values()))},
    }
