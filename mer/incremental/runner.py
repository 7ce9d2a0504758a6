"""One incremental trial: (benchmark, protocol, backbone, learner, fold), sessions learnt in order.

For t = 1..T the learner sees only session t's training part (`SessionData`: inputs and labels
of those rows, nothing else); then the runner asks it for global scores on the test part of
every session j ≤ t and keeps the predictions, from which R[t, j] and every other metric
follow (`mer.incremental.metrics`). Learners never touch a test row's label, never choose an
epoch or a hyper-parameter on test data (no evaluation happens inside `learn`), and cannot
compute a metric. Test inputs are read once per session and kept for the later evaluations.

The result is one JSON (written atomically): R, the predictions and test keys per session,
the metrics, the majority-class reference (`baselines.majority`: the most frequent global
emotion of the training rows seen so far, predicted for every test sample), each session's
optimiser runs (stage, epochs, steps, mean loss per epoch), exemplar and parameter counts after
each session, the pretrained file's SHA-256, the folds hash and this fold's per-session split,
the label space and count table, the configuration, seed, git commit and timings. Same params
and seed → same JSON on the CPU apart from `timings`.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from mer import paths
from mer.atomic import write_json
from mer.config import SYNTHETIC_ROOT, params_hash
from mer.datasets import read_manifest
from mer.datasets.manifest import sidecar_path
from mer.errors import ConfigError, InputDataError
from mer.incremental.config import Benchmark, benchmark_config
from mer.incremental.learner import Learner, create_learner
from mer.incremental.metrics import trial_metrics
from mer.incremental.sessions import (
    SCALING_NAMES,
    Stream,
    build_stream,
    input_scaling,
    load_session_inputs,
    make_stream_folds,
    session_data,
    session_split,
)
from mer.incremental.training import recording_losses
from mer.protocols.folds import check_no_leakage, verify_hash
from mer.report.provenance import file_sha256, git_commit
from mer.training.data import row_keys
from mer.training.inputs import InputSources, input_kind
from mer.training.runtime import resolve_device, resolve_threads, seeded_runtime

EVAL_BATCH = 64
KEY_COLUMNS = ["dataset", "subject", "clip"]
# params.yaml sections that decide a trial's inputs besides its datasets' entries.
UPSTREAM_SECTIONS = ("crop", "keyframes", "flow")


@torch.no_grad()
def predict(learner: Learner, x: torch.Tensor, n_global: int, name: str) -> list[int]:
    """Argmax of the learner's global scores over `x`, in batches; scores are checked first."""
    predicted = []
    for start in range(0, len(x), EVAL_BATCH):
        scores = learner.global_scores(x[start : start + EVAL_BATCH])
        if scores.shape != (min(EVAL_BATCH, len(x) - start), n_global):
            raise RuntimeError(f"learner {name!r} returned scores of shape {tuple(scores.shape)}")
        if torch.isnan(scores).any() or (scores == float("inf")).any() or (scores == float("-inf")).all(1).any():
            raise RuntimeError(f"learner {name!r} returned NaN, +inf or all -inf global scores")
        predicted += scores.argmax(dim=1).tolist()
    return predicted


def majority_predictions(train_labels: list[list[int]], test_sizes: list[int]) -> list[list[list[int]]]:
    """After each session t, the most frequent global emotion of the training labels of sessions ≤ t
    (ties to the smaller id) predicted for every test sample of sessions ≤ t: the chance line a learner must beat."""
    counts: dict[int, int] = {}
    predictions = []
    for t, labels in enumerate(train_labels):
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
        majority = min(counts, key=lambda label: (-counts[label], label))
        predictions.append([[majority] * size for size in test_sizes[: t + 1]])
    return predictions


def _keys(rows: pd.DataFrame) -> list[list[str]]:
    return [list(key) for key in row_keys(rows, "instance")]


def run_trial(
    benchmark: Benchmark,
    stream: Stream,
    folds: dict[str, Any],
    fold: int,
    learner_name: str,
    backbone: str,
    sources: InputSources,
    *,
    device: str | None = None,
    threads: int | None = None,
) -> dict[str, Any]:
    """Learn the sessions of fold `fold` in order with a fresh learner; return the trial record."""
    started = time.perf_counter()
    verify_hash(folds)
    check_no_leakage(folds)
    if not 0 <= fold < len(folds["folds"]):
        raise ConfigError(f"fold {fold} does not exist: {folds['protocol']} has folds 0..{len(folds['folds']) - 1}")
    dev = resolve_device(device)
    threads = resolve_threads(threads)
    n_global = len(stream.labels.global_names)
    learner: Learner | None = None
    config = None
    tests: list[torch.Tensor] = []
    test_rows: list[pd.DataFrame] = []
    train_labels: list[list[int]] = []
    predictions: list[list[list[int]]] = []
    sessions: list[dict[str, Any]] = []
    timings: list[dict[str, float]] = []
    with seeded_runtime(benchmark.seed, threads):
        for t, dataset in enumerate(stream.datasets):
            clock = time.perf_counter()
            train, test = session_split(stream, folds, fold, t)
            x_train = load_session_inputs(train, benchmark.input, benchmark.input_size, sources)
            tests.append(load_session_inputs(test, benchmark.input, benchmark.input_size, sources))
            test_rows.append(test)
            loaded = time.perf_counter()
            if learner is None:
                config = benchmark.learner_config(learner_name, backbone, int(x_train.shape[1]), str(dev))
                learner = create_learner(learner_name, config, stream.labels)
            with recording_losses() as fits:
                learner.learn(session_data(t, stream, train, x_train))
            train_labels.append(train["global_index"].astype(int).tolist())
            del x_train
            learnt = time.perf_counter()
            predictions.append([predict(learner, x, n_global, learner_name) for x in tests])
            timings.append(
                {
                    "load_seconds": loaded - clock,
                    "learn_seconds": learnt - loaded,
                    "eval_seconds": time.perf_counter() - learnt,
                }
            )
            sessions.append(
                {
                    "session": t + 1,
                    "dataset": dataset,
                    "n_train": len(train),
                    "n_test": len(test),
                    "train_classes": sorted(set(train["fine_index"].astype(int).tolist())),
                    "memory": learner.memory_size(),
                    "parameters": learner.parameter_counts(),
                    "fits": fits,
                }
            )
    assert learner is not None and config is not None
    labels = [rows["global_index"].astype(int).tolist() for rows in test_rows]
    fold_entry = folds["folds"][fold]
    return {
        "benchmark": benchmark.name,
        "protocol": folds["protocol"],
        "backbone": backbone,
        "learner": learner_name,
        "fold": fold,
        "fold_name": fold_entry["name"],
        "seed": benchmark.seed,
        "sessions": sessions,
        "input": {
            "kind": benchmark.input,
            "source": input_kind(benchmark.input).source,
            "size": benchmark.input_size,
            "scaling": SCALING_NAMES[input_scaling(benchmark.input)],
        },
        "label_space": {
            "global_names": list(stream.labels.global_names),
            "fine_names": list(stream.labels.fine_names),
            "fine_to_global": list(stream.labels.fine_to_global),
            "fine_session": list(stream.labels.fine_session),
        },
        "counts": stream.counts,
        "folds": {key: folds[key] for key in ("protocol", "level", "n_folds", "seed", "hash")},
        "fold_split": fold_entry["sessions"],
        "test_keys": [_keys(rows) for rows in test_rows],
        "test_labels": labels,
        "predictions": predictions,
        "metrics": trial_metrics(predictions, labels, n_global),
        "baselines": {
            "majority": trial_metrics(majority_predictions(train_labels, [len(p) for p in labels]), labels, n_global)
        },
        "weights": learner.weights_record(),
        "config": {"benchmark": benchmark.entry, "learner": dataclasses.asdict(config)},
        "runtime": {"device": str(dev), "threads": threads, "torch": torch.__version__, "git_commit": git_commit()},
        "timings": {"sessions": timings, "total_seconds": time.perf_counter() - started},
    }


def _manifest_meta(dataset: str) -> tuple[pd.DataFrame, dict[str, Any], str]:
    path = paths.fill(paths.MANIFEST, dataset=dataset)
    frame = read_manifest(path)
    meta_path = sidecar_path(path)
    if not meta_path.is_file():
        raise InputDataError("manifest.json missing (rerun `mer manifest`)", dataset=dataset, path=str(meta_path))
    return frame, json.loads(meta_path.read_text(encoding="utf-8")), file_sha256(path)


def sources_from_paths(triple: str | None) -> InputSources:
    """Flow caches, face crops and keyframe tables at the pipeline's standard paths; `triple` as InputSources'."""
    return InputSources(
        flow=lambda dataset, subject: paths.fill(paths.FLOW, dataset=dataset, subject=subject),
        faces=lambda dataset, subject: paths.fill(paths.FACES, dataset=dataset, subject=subject),
        keyframes=lambda dataset: paths.fill(paths.KEYFRAMES, dataset=dataset),
        triple=triple,
    )


def run_from_params(
    params: dict[str, Any],
    benchmark_name: str,
    learner: str,
    backbone: str,
    protocol: str,
    fold: int,
    out: Path,
    *,
    threads: int | None = None,
) -> dict[str, Any]:
    """Run one trial on the pipeline's manifests and caches, write its JSON to `out`, and return it."""
    benchmark = benchmark_config(params, benchmark_name)
    benchmark.check_trial(learner=learner, backbone=backbone, protocol=protocol)
    loaded = {dataset: _manifest_meta(dataset) for dataset in benchmark.datasets}
    stream = build_stream(
        benchmark.sessions, {d: v[0] for d, v in loaded.items()}, {d: v[1] for d, v in loaded.items()}
    )
    folds = make_stream_folds(stream, benchmark.protocols[protocol])
    sources = sources_from_paths(benchmark.keyframes)
    result = run_trial(benchmark, stream, folds, fold, learner, backbone, sources, threads=threads)
    result["input"]["keyframes"] = benchmark.keyframes or f"{params['keyframes']['mode']} (keyframes.mode)"
    upstream = {key: params[key] for key in UPSTREAM_SECTIONS}
    upstream["datasets"] = {d: params["datasets"][d] for d in benchmark.datasets}
    if any(entry["root"] == SYNTHETIC_ROOT for entry in upstream["datasets"].values()):
        upstream["synth"] = params["synth"]
    result["provenance"] = {
        "manifests_sha256": {d: v[2] for d, v in loaded.items()},
        "upstream_params_hash": params_hash(upstream),
    }
    write_json(out, result)
    return result
