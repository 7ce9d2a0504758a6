"""The incremental runner end to end on a tiny 4-session benchmark with a trivial learner defined in the tests."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from mer import paths
from mer.atomic import write_json
from mer.cli import app
from mer.datasets.manifest import sidecar_path
from mer.incremental import runner
from mer.incremental.config import benchmark_config
from mer.incremental.learner import Learner
from mer.incremental.sessions import IMAGENET_MEAN, IMAGENET_STD, build_stream, make_stream_folds, session_split
from tests.test_incremental_sessions import (
    SESSIONS,
    TRIVIAL,
    NearestMean,
    sample_keys,
    tiny_manifests,
    tiny_metas,
    tiny_params,
    write_inputs,
)


def _sample_numbers(x: np.ndarray | torch.Tensor) -> set[int]:
    """The sample numbers write_inputs painted into the apex frames (red channel, one pixel)."""
    values = torch.as_tensor(x).reshape(len(x), 3, -1)[:, 0, 0].double()
    return {int(round(v)) for v in ((values * IMAGENET_STD[0] + IMAGENET_MEAN[0]) * 255).tolist()}


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Learner]:
    """Every learner the runner creates, for inspection after the trial."""
    made: list[Learner] = []
    original = runner.create_learner

    def create(*args: Any) -> Learner:
        made.append(original(*args))
        return made[-1]

    monkeypatch.setattr(runner, "create_learner", create)
    return made


@pytest.mark.parametrize("protocol", ["slcv", "ilcv"])
def test_trial_end_to_end(tmp_path: Path, captured: list[Learner], protocol: str) -> None:
    manifests = tiny_manifests()
    sources = write_inputs(manifests, tmp_path)
    bench = benchmark_config(tiny_params(), "tiny")
    stream = build_stream(bench.sessions, manifests, tiny_metas())
    folds = make_stream_folds(stream, bench.protocols[protocol])
    result = runner.run_trial(bench, stream, folds, 1, TRIVIAL, "resnet", sources, device="cpu")

    sessions = len(SESSIONS)
    r = result["metrics"]["R"]
    assert len(r) == sessions and all(len(row) == sessions for row in r)
    assert all((r[t][j] is None) == (j > t) for t in range(sessions) for j in range(sessions))
    assert len(result["predictions"]) == sessions and [len(row) for row in result["predictions"]] == [1, 2, 3, 4]
    assert result["folds"]["hash"] == folds["hash"] and result["fold_name"] == f"{protocol}-k1"

    # the learner saw session t's training rows only, never a test row
    learner = captured[0]
    assert isinstance(learner, NearestMean)
    taught_emotions = {g for session in learner.sessions for g in session.y_global.tolist()}
    assert result["sessions"][-1]["parameters"]["total"] == len(taught_emotions)
    number = {key: i + 1 for i, key in enumerate(sample_keys(manifests))}  # write_inputs' numbering
    for t, taught in enumerate(learner.sessions):
        train, test = session_split(stream, folds, 1, t)
        assert taught.index == t and taught.dataset == SESSIONS[t]
        expected = {number[k] for k in zip(train["dataset"], train["subject"], train["clip"])}
        tested = {number[k] for k in zip(test["dataset"], test["subject"], test["clip"])}
        assert _sample_numbers(taught.x) == expected and not expected & tested
        assert taught.y_global.tolist() == train["global_index"].tolist()
        assert set(taught.fine_classes) == {i for i, s in enumerate(stream.labels.fine_session) if s == t}
        # the test keys after session t are the fold's test parts of sessions ≤ t
        assert result["test_keys"][t] == [list(k) for k in zip(test["dataset"], test["subject"], test["clip"])]
        assert result["fold_split"][t]["test"] == folds["folds"][1]["sessions"][t]["test"]

    # the majority-class reference: the most frequent training emotion so far, predicted for every test sample
    seen: list[int] = []
    for t in range(sessions):
        seen += session_split(stream, folds, 1, t)[0]["global_index"].tolist()
        majority = max(sorted(set(seen)), key=seen.count)
        truth = [y for part in result["test_labels"][: t + 1] for y in part]
        reference = result["baselines"]["majority"]
        assert reference["cumulative_accuracy"][t] == pytest.approx(np.mean(np.array(truth) == majority))
        assert reference["predicted_counts"][t][majority] == len(truth)
        assert result["sessions"][t]["fits"] == []  # NearestMean never calls fit_epochs

    # R recomputed from the stored predictions and labels
    for t in range(sessions):
        for j in range(t + 1):
            predicted = np.array(result["predictions"][t][j])
            assert r[t][j] == pytest.approx(float((predicted == np.array(result["test_labels"][j])).mean()))
    json.dumps(result)  # serialisable


def test_cli_trial_is_deterministic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    manifests = tiny_manifests()
    for dataset, frame in manifests.items():
        path = paths.fill(paths.MANIFEST, dataset=dataset)
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
        write_json(sidecar_path(path), tiny_metas()[dataset])
    write_inputs(manifests, Path("."))
    params = tiny_params()
    Path("params.yaml").write_text(yaml.safe_dump(params))
    args = ["incremental", "-b", "tiny", "-l", TRIVIAL, "--backbone", "resnet", "--protocol", "slcv", "-f", "0"]
    done = CliRunner().invoke(app, [*args, "-p", "params.yaml"])
    assert done.exit_code == 0, done.output
    written = json.loads(Path(f"results/incremental/tiny/slcv/resnet/{TRIVIAL}/fold-0.json").read_text())
    again = runner.run_from_params(params, "tiny", TRIVIAL, "resnet", "slcv", 0, tmp_path / "again.json")
    assert {k: v for k, v in written.items() if k != "timings"} == {k: v for k, v in again.items() if k != "timings"}
    assert len(written["provenance"]["manifests_sha256"]) == 4 and written["input"]["kind"] == "apex_frame"
    assert written["config"]["learner"]["backbone"] == "resnet18" and written["seed"] == 0
    bad = CliRunner().invoke(app, [*args[:-1], "5", "-p", "params.yaml"])
    assert bad.exit_code == 2 and "fold 5 does not exist" in bad.output


def test_keyframe_triple_reaches_the_inputs(tmp_path: Path, captured: list[Learner]) -> None:
    manifests = tiny_manifests()
    sources = dataclasses.replace(write_inputs(manifests, tmp_path), triple="annotated")
    bench = benchmark_config(tiny_params(keyframes="annotated"), "tiny")
    stream = build_stream(bench.sessions, manifests, tiny_metas())
    folds = make_stream_folds(stream, bench.protocols["slcv"])
    runner.run_trial(bench, stream, folds, 0, TRIVIAL, "resnet", sources, device="cpu")
    assert all(_sample_numbers(session.x) == {0} for session in captured[0].sessions)  # the blank onset frame


def test_bad_scores_are_refused() -> None:
    class Broken(NearestMean):
        def global_scores(self, x: Any) -> Any:
            return torch.full((len(x), 9), float("nan"))

    learner = Broken.__new__(Broken)
    with pytest.raises(RuntimeError, match="NaN"):
        runner.predict(learner, torch.zeros(3, 3, 8, 8), 9, "broken")
