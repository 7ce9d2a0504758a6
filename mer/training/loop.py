"""train_fold: one (experiment, seed, fold) job with a fixed epoch budget and no test-set selection.

The order of a job is the honesty argument: the leakage guard runs, the training rows are
loaded (and fingerprinted, so a checkpoint from other data is never resumed), the model
trains for exactly `epochs` epochs (resuming from a checkpoint if one matches), and only
then are the test rows loaded, once, to predict with the last-epoch model — or, with
`inner_validation`, the best epoch on validation subjects carved from the training subjects
(mer.training.validation). With `tuning`, the grid candidate chosen on inner folds of the
training subjects (mer.training.tuning) is trained instead of the experiment's own lr, weight
decay and epochs. Nothing computed from the test fold can influence a weight or a choice.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from mer.atomic import write_json
from mer.errors import ConfigError
from mer.metrics import uf1
from mer.protocols.folds import LeakageError, check_no_leakage, fold_by_name, level_of, verify_hash
from mer.training import checkpoint
from mer.training.data import (
    class_names,
    row_keys,
    sample_keys_digest,
    split_fold,
    tensor_digest,
)
from mer.training.inputs import InputSources
from mer.training.methods import Batch, Method, create_method
from mer.training.outputs import predictions_frame, write_predictions
from mer.training.runtime import resolve_device, resolve_threads, seeded_runtime, shuffle_generator
from mer.training.steps import build_model, make_loader, make_optimizer, predict, set_epoch_lr, train_epoch
from mer.training.tuning import TUNING, cached_select, select
from mer.training.validation import carve, selection_rule

CHECKPOINT = "checkpoint.pt"
PREDICTIONS = "predictions.csv"
LOG = "log.json"
# Keys of an experiment that do not change what one epoch does; a checkpoint survives them.
BUDGET_KEYS = ("epochs", "seeds")


def train_fold(
    manifest: pd.DataFrame,
    folds: dict[str, Any],
    fold_name: str,
    experiment: dict[str, Any],
    sources: InputSources,
    seed: int,
    out_dir: Path,
    *,
    threads: int | None = None,
    device: str | None = None,
    checkpoint_every: int = 1,
    tuning_file: Path | None = None,
) -> None:
    """Train `fold_name` of `folds` under `experiment`; write predictions.csv, log.json, checkpoint.pt.

    `sources` says where flow caches, face crops and keyframe tables are. `threads` defaults to
    $MER_THREADS or 1; `device` to $MER_DEVICE, else CUDA when available, else the CPU.
    A checkpoint is saved every `checkpoint_every` epochs and after the last one. With
    `tuning`, the choice is read from (or made and written to) `tuning_file`, by default
    `tuning.json` in `out_dir`; every seed of a fold may share one (`tune_fold`).
    """
    started = time.perf_counter()
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be at least 1, got {checkpoint_every}")
    out_dir = Path(out_dir)
    threads = resolve_threads(threads)
    dev = resolve_device(device)
    job = _prepare(manifest, folds, fold_name, experiment, sources)
    inner = experiment.get("inner_validation")
    tuned = None
    if experiment.get("tuning"):
        tuned = _choice(job, experiment, folds, fold_name, tuning_file or out_dir / TUNING, threads, dev)
        experiment = {**experiment, **tuned["chosen"]}
    fingerprint = {
        "experiment": {k: v for k, v in sorted(experiment.items()) if k not in BUDGET_KEYS},
        "fold": fold_name,
        "folds_hash": folds["hash"],
        "seed": seed,
        "classes": job.classes,
        "train_samples": sample_keys_digest(job.train_rows),
        "train_data": job.train_data,
        "device": dev.type,
    }

    with seeded_runtime(seed, threads):
        model, weights = build_model(job.method, experiment, len(job.classes), job.x_train, dev)
        fingerprint["pretrained_sha256"] = weights["sha256"] if weights else None
        optimizer = make_optimizer(job.method, model, experiment)
        generator = shuffle_generator(seed)
        state, resume_note = checkpoint.load_resumable(out_dir / CHECKPOINT, fingerprint, experiment["epochs"])
        history = _restore(state, model, optimizer, generator, dev) if state is not None else []
        best = state.get("best") if state is not None else None
        resumed_epochs = len(history)

        keys, train_set = job.method.training_set(job.x_train, job.y_train)
        loader = make_loader(train_set, experiment, generator)
        for epoch in range(resumed_epochs + 1, experiment["epochs"] + 1):
            epoch_started = time.perf_counter()
            set_epoch_lr(optimizer, experiment, epoch)
            loss, terms, steps = train_epoch(job.method, model, keys, loader, optimizer, dev)
            entry = {
                "epoch": epoch,
                "loss": loss,
                "terms": terms,
                "steps": steps,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.perf_counter() - epoch_started,
            }
            if inner:
                entry["val_uf1"] = _val_uf1(job.method, model, job.x_val, job.val_rows, len(job.classes), dev)
                if best is None or entry["val_uf1"] > best["val_uf1"]:
                    best = {"epoch": epoch, "val_uf1": entry["val_uf1"], "model": copy.deepcopy(model.state_dict())}
            history.append(entry)
            if epoch % checkpoint_every == 0 or epoch == experiment["epochs"]:
                state = _state(fingerprint, epoch, model, optimizer, generator, history, dev)
                checkpoint.save(out_dir / CHECKPOINT, {**state, "best": best})

        if best is not None:
            model.load_state_dict(best["model"])
        x_test = job.method.inputs(job.test_rows, experiment, sources)
        logits = predict(job.method, model, x_test, dev)

    write_predictions(out_dir / PREDICTIONS, predictions_frame(job.test_rows, logits))
    write_json(
        out_dir / LOG,
        {
            "experiment": experiment,
            "fold": fold_name,
            "folds_hash": folds["hash"],
            "seed": seed,
            "classes": job.classes,
            "level": job.level,
            "n_train": len(job.fit_rows),
            "n_validation": len(job.val_rows),
            "n_test": len(job.test_rows),
            "train_subjects": _subjects(job.fit_rows),
            "validation_subjects": _subjects(job.val_rows),
            "test_subjects": _subjects(job.test_rows),
            "selection": selection_rule(experiment),
            "selected_epoch": best["epoch"] if best is not None else experiment["epochs"],
            "pretrained": weights,
            "tuning": tuned,
            "checkpoint": resume_note,
            "resumed_epochs": resumed_epochs,
            "epochs": history,
            # None when resumed from a checkpoint written before steps were counted
            "optimizer_steps": None if any("steps" not in e for e in history) else sum(e["steps"] for e in history),
            "samples_per_epoch": len(train_set),
            "device": str(dev),
            "threads": threads,
            "torch": torch.__version__,
            "load_seconds": job.load_seconds,
            "total_seconds": time.perf_counter() - started,
        },
    )


@dataclass(frozen=True)
class _FoldJob:
    """One outer fold's rows and its training tensors, loaded after the leakage checks."""

    train_rows: pd.DataFrame
    test_rows: pd.DataFrame
    fit_rows: pd.DataFrame
    val_rows: pd.DataFrame
    classes: list[str]
    level: str
    method: Method
    x_train: Batch
    y_train: torch.Tensor
    x_val: Batch | None
    train_data: str
    load_seconds: float


def _prepare(
    manifest: pd.DataFrame, folds: dict[str, Any], fold_name: str, experiment: dict[str, Any], sources: InputSources
) -> _FoldJob:
    """The leakage guards, then the training (and inner-validation) rows' inputs; never the test rows'."""
    verify_hash(folds)
    check_no_leakage(folds)
    fold = fold_by_name(folds, fold_name)
    level = level_of(folds)
    train_rows, test_rows = split_fold(manifest, fold, level)
    _assert_disjoint(train_rows, test_rows, fold_name, level)
    inner = experiment.get("inner_validation")
    fit_rows, val_rows = carve(train_rows, inner, fold_name) if inner else (train_rows, train_rows.iloc[:0])
    load_started = time.perf_counter()
    method = create_method(experiment)
    x_train = method.inputs(fit_rows, experiment, sources)
    y_train = _labels(fit_rows)
    x_val = method.inputs(val_rows, experiment, sources) if inner else None
    load_seconds = time.perf_counter() - load_started
    extra = [*_tensors(x_val), _labels(val_rows)] if x_val is not None else []
    return _FoldJob(
        train_rows=train_rows,
        test_rows=test_rows,
        fit_rows=fit_rows,
        val_rows=val_rows,
        classes=class_names(manifest),
        level=level,
        method=method,
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        train_data=tensor_digest(*_tensors(x_train), y_train, *extra),
        load_seconds=load_seconds,
    )


def _choice(
    job: _FoldJob,
    experiment: dict[str, Any],
    folds: dict[str, Any],
    fold_name: str,
    path: Path,
    threads: int,
    dev: torch.device,
) -> dict[str, Any]:
    """Nested selection's record for this fold, cached in `path` under everything it depends on.

    The key leaves out the training seeds: inner runs use `tuning.seed`, so the choice is a
    property of the fold and every seed's job reuses one file.
    """
    key = {
        "experiment": {k: v for k, v in sorted(experiment.items()) if k != "seeds"},
        "fold": fold_name,
        "folds_hash": folds["hash"],
        "train_data": job.train_data,
        "device": dev.type,
    }
    return cached_select(
        path,
        key,
        lambda: select(
            job.method, experiment, job.fit_rows, job.x_train, job.y_train, len(job.classes), fold_name, threads, dev
        ),
    )


def tune_fold(
    manifest: pd.DataFrame,
    folds: dict[str, Any],
    fold_name: str,
    experiment: dict[str, Any],
    sources: InputSources,
    path: Path,
    *,
    threads: int | None = None,
    device: str | None = None,
) -> dict[str, Any]:
    """Nested selection alone for `fold_name`, written to `path`; `train_fold` given the same
    `tuning_file` trains the chosen candidate for each seed without repeating it."""
    if not experiment.get("tuning"):
        raise ConfigError("tune_fold needs an experiment with a `tuning` section")
    dev = resolve_device(device)
    job = _prepare(manifest, folds, fold_name, experiment, sources)
    return _choice(job, experiment, folds, fold_name, Path(path), resolve_threads(threads), dev)

def _tensors(inputs: Batch) -> list[torch.Tensor]:
    return [inputs[k] for k in sorted(inputs)]


def _labels(rows: pd.DataFrame) -> torch.Tensor:
    return torch.tensor(rows["label_index"].astype(int).to_numpy(), dtype=torch.long)


def _subjects(rows: pd.DataFrame) -> list[list[str]]:
    return [list(key) for key in sorted(set(row_keys(rows, "subject")))]


def _assert_disjoint(train_rows: pd.DataFrame, test_rows: pd.DataFrame, fold_name: str, level: str) -> None:
    """Second line of defence: no unit (subject, or sample for instance-level folds) on both sides."""
    shared = set(row_keys(train_rows, level)) & set(row_keys(test_rows, level))
    if shared:
        raise LeakageError(f"fold {fold_name!r}: manifest rows of {sorted(shared)[:5]} on both sides")


@torch.no_grad()
def _val_uf1(
    method: Method, model: nn.Module, inputs: Batch, rows: pd.DataFrame, n_classes: int, dev: torch.device
) -> float:
    """Pooled UF1 of the model on the inner-validation rows."""
    predicted = predict(method, model, inputs, dev).argmax(dim=1).tolist()
    return uf1(rows["label_index"].astype(int).tolist(), predicted, list(range(n_classes)))


def _restore(
    state: dict[str, Any],
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    dev: torch.device,
) -> list[dict[str, Any]]:
    """Load a checkpoint's weights, optimizer moments and RNG states; return its loss history."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if dev.type == "cuda":
        torch.cuda.set_rng_state(state["cuda_rng"], dev)
    return list(state["history"])


def _state(
    fingerprint: dict[str, Any],
    epoch: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    generator: torch.Generator,
    history: list[dict[str, Any]],
    dev: torch.device,
) -> dict[str, Any]:
    """Everything the remaining epochs depend on (see mer.training.checkpoint)."""
    state = {
        "fingerprint": fingerprint,
        "epoch": epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "history": history,
    }
    if dev.type == "cuda":
        state["cuda_rng"] = torch.cuda.get_rng_state(dev)
    return state
