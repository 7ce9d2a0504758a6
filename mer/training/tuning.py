"""Nested hyper-parameter selection on inner folds of one outer fold's training subjects.

For each non-epoch setting of `experiments.<name>.tuning.grid` (mer.training.grid) and each
inner fold, a model is trained on the other inner folds' subjects for the largest epoch budget
and predicts the held-out inner fold after every listed budget. Because an epoch's lr and
shuffling depend on the epoch alone (mer.training.steps), the first e epochs of that run are
exactly an e-epoch run, so one run scores every budget. Each candidate's predictions are
pooled over the inner folds (as MEGC pools over LOSO folds) and scored by UF1; the best
candidate (first in grid order on ties) is what `train_fold` then trains on all training
subjects. Only training rows ever reach this module: the test fold cannot influence a choice.

The outcome is cached in a JSON file keyed on everything it depends on: the workflow's `tune`
job writes one per (experiment, fold) and every seed's `train` job reads it; a job run on its
own caches `tuning.json` beside its checkpoint, so a resumed job does not repeat it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mer.atomic import write_json
from mer.metrics import uar, uf1
from mer.training import grid
from mer.training.methods import Batch, Method
from mer.training.runtime import seeded_runtime, shuffle_generator
from mer.training.steps import build_model, make_loader, make_optimizer, predict, set_epoch_lr, train_epoch
from mer.training.validation import inner_folds

TUNING = "tuning.json"


def _subset(inputs: Batch, positions: np.ndarray) -> Batch:
    index = torch.from_numpy(positions)
    return {name: tensor[index] for name, tensor in inputs.items()}


def _inner_predictions(
    method: Method,
    experiment: dict[str, Any],
    fit: tuple[Batch, torch.Tensor],
    held: Batch,
    budgets: list[int],
    num_classes: int,
    seed: int,
    threads: int,
    dev: torch.device,
) -> tuple[dict[int, list[int]], dict[int, float]]:
    """Predicted classes of `held` after each epoch budget, and the training loss at each."""
    predicted, losses = {}, {}
    with seeded_runtime(seed, threads):
        model, _ = build_model(method, experiment, num_classes, fit[0], dev)
        optimizer = make_optimizer(method, model, experiment)
        keys, train_set = method.training_set(*fit)
        loader = make_loader(train_set, experiment, shuffle_generator(seed))
        for epoch in range(1, max(budgets) + 1):
            set_epoch_lr(optimizer, experiment, epoch)
            loss, _, _ = train_epoch(method, model, keys, loader, optimizer, dev)
            if epoch in budgets:
                predicted[epoch] = predict(method, model, held, dev).argmax(dim=1).tolist()
                losses[epoch] = loss
    return predicted, losses


def select(
    method: Method,
    experiment: dict[str, Any],
    train_rows: pd.DataFrame,
    inputs: Batch,
    labels: torch.Tensor,
    num_classes: int,
    fold: str,
    threads: int,
    dev: torch.device,
) -> dict[str, Any]:
    """Score every grid candidate on inner folds of `train_rows`; the record names the chosen one.

    `inputs` and `labels` are the training rows' tensors in row order. Inner runs are seeded
    with `tuning.seed`, not a job's training seed, so the choice belongs to the outer fold and
    each training seed then varies only the final run. The record holds the
    inner folds' subjects, each candidate's pooled UF1 and UAR and mean final training loss,
    the chosen candidate and the seconds spent.
    """
    started = time.perf_counter()
    spec = experiment["tuning"]
    folds = inner_folds(train_rows, spec["inner_folds"], spec["seed"], fold)
    budgets = grid.epoch_budgets(experiment)
    classes = list(range(num_classes))
    scores = []
    for setting in grid.settings(experiment):
        trial = {**experiment, **setting}
        pooled = {epochs: ([], []) for epochs in budgets}
        losses: dict[int, list[float]] = {epochs: [] for epochs in budgets}
        for held in folds:
            rest = np.setdiff1d(np.arange(len(train_rows)), held)
            predicted, loss = _inner_predictions(
                method,
                trial,
                (_subset(inputs, rest), labels[torch.from_numpy(rest)]),
                _subset(inputs, held),
                budgets,
                num_classes,
                spec["seed"],
                threads,
                dev,
            )
            for epochs in budgets:
                pooled[epochs][0].extend(labels[torch.from_numpy(held)].tolist())
                pooled[epochs][1].extend(predicted[epochs])
                losses[epochs].append(loss[epochs])
        for epochs in budgets:
            truth, guess = pooled[epochs]
            scores.append(
                {
                    **setting,
                    "epochs": epochs,
                    "uf1": uf1(truth, guess, classes),
                    "uar": uar(truth, guess, classes),
                    "train_loss": float(np.mean(losses[epochs])),
                    "predicted_counts": np.bincount(guess, minlength=num_classes).tolist(),
                }
            )
    best = max(range(len(scores)), key=lambda i: (scores[i]["uf1"], -i))
    chosen = {key: scores[best][key] for key in (*grid.settings(experiment)[0], "epochs")}
    return {
        "inner_folds": [_subjects(train_rows.iloc[held]) for held in folds],
        "scores": scores,
        "chosen": chosen,
        "seconds": time.perf_counter() - started,
    }


def _subjects(rows: pd.DataFrame) -> list[str]:
    return sorted({f"{d}/{s}" for d, s in zip(rows["dataset"], rows["subject"], strict=True)})


def cached_select(path: Path, key: dict[str, Any], run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The record stored in `path` when it was made under `key` (compared as JSON), else `run()`,
    written there atomically first."""
    path = Path(path)
    key = json.loads(json.dumps(key))
    if path.is_file():
        stored = json.loads(path.read_text(encoding="utf-8"))
        if stored.get("key") == key:
            return stored["record"]
    record = run()
    write_json(path, {"key": key, "record": record})
    return record
