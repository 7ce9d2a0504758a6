"""train_fold: determinism, resumption, the test fold kept out of training, inputs and outputs."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from mer.errors import InputDataError
from mer.protocols import FoldError, LeakageError, folds_hash, loso_folds
from mer.training import InputSources, train_fold
from mer.training import loop as loop_module
from mer.training import methods as methods_module
from mer.training.data import SCALINGS, class_names, load_inputs, split_fold, to_model_input

CLASSES = ["negative", "positive", "surprise"]
SUBJECTS = ["sub01", "sub02", "sub03", "sub04"]
FLOW_SIZE = 16
EXPERIMENT = {
    "datasets": ["toy"],
    "protocol": "loso",
    "model": "ststnet",
    "input": "rise_flow",
    "input_size": 28,
    "epochs": 6,
    "batch_size": 8,
    "lr": 0.01,
    "weight_decay": 0.0,
    "seeds": [0],
}


def _flow(label: int, rng: np.random.Generator) -> np.ndarray:
    """(3, S, S) flow whose class is a positive u-motion band in third `label` of the rows."""
    flow = rng.normal(0.0, 0.05, size=(3, FLOW_SIZE, FLOW_SIZE)).astype(np.float32)
    band = FLOW_SIZE // 3
    flow[0, label * band : (label + 1) * band, :] += rng.uniform(1.0, 2.0)
    flow[2] = np.abs(flow[0]) * 0.1
    return flow


def make_corpus(root: Path, clips_per_class: int = 2, absent: dict[str, int] | None = None) -> pd.DataFrame:
    """Flow caches under root/flow/<subject>.h5 and the matching manifest; `absent` drops a class of a subject."""
    rng = np.random.default_rng(123)
    rows = []
    (root / "flow").mkdir(parents=True, exist_ok=True)
    for subject in SUBJECTS:
        with h5py.File(root / "flow" / f"{subject}.h5", "w") as handle:
            handle.attrs["dataset"], handle.attrs["subject"] = "toy", subject
            for label, name in enumerate(CLASSES):
                if absent and absent.get(subject) == label:
                    continue
                for k in range(clips_per_class):
                    clip = f"EP{label:02d}_{k:02d}"
                    group = handle.create_group(clip)
                    group.create_dataset("rise", data=_flow(label, rng))
                    group.create_dataset("fall", data=-_flow(label, rng))
                    rows.append(
                        {"dataset": "toy", "subject": subject, "clip": clip, "onset": 1, "apex": 5, "offset": 9,
                         "emotion": name, "label": name, "label_index": label, "action_units": "", "frame_dir": ""}
                    )
    return pd.DataFrame(rows).sort_values(["subject", "clip"]).reset_index(drop=True)


def flow_paths(root: Path) -> InputSources:
    return InputSources(flow=lambda dataset, subject: root / "flow" / f"{subject}.h5")


@pytest.fixture()
def corpus(tmp_path: Path) -> tuple[Path, pd.DataFrame, dict]:
    manifest = make_corpus(tmp_path)
    return tmp_path, manifest, loso_folds(manifest)


def run(root: Path, manifest: pd.DataFrame, folds: dict, out: str, fold: str = "toy-sub01", **changes) -> Path:
    out_dir = root / out
    train_fold(manifest, folds, fold, {**EXPERIMENT, **changes}, flow_paths(root), 0, out_dir, threads=1, device="cpu")
    return out_dir


def test_outputs_follow_the_contract(corpus) -> None:
    root, manifest, folds = corpus
    out = run(root, manifest, folds, "a")
    predictions = pd.read_csv(out / "predictions.csv", dtype={"subject": str, "clip": str})
    keys = ["dataset", "subject", "clip", "label_index", "pred_index"]
    assert list(predictions.columns) == [*keys, "logit_0", "logit_1", "logit_2"]
    assert set(predictions["subject"]) == {"sub01"}
    assert len(predictions) == 6
    logits = predictions[["logit_0", "logit_1", "logit_2"]].to_numpy()
    assert (logits.argmax(axis=1) == predictions["pred_index"]).all()
    log = json.loads((out / "log.json").read_text())
    assert log["n_train"] == 18 and log["n_test"] == 6 and log["classes"] == CLASSES
    assert [e["epoch"] for e in log["epochs"]] == list(range(1, 7))
    assert (out / "checkpoint.pt").is_file()
    # 18 training samples in batches of 8: 3 steps an epoch; each loss term's epoch mean is logged
    assert [e["steps"] for e in log["epochs"]] == [3] * 6 and log["optimizer_steps"] == 18
    assert all(set(e["terms"]) == {"cross_entropy"} for e in log["epochs"])
    assert all(e["terms"]["cross_entropy"] == pytest.approx(e["loss"]) for e in log["epochs"])


def test_a_last_batch_of_one_sample_is_dropped(corpus) -> None:
    """BatchNorm cannot normalise one sample: 18 samples in batches of 17 give one step an epoch."""
    root, manifest, folds = corpus
    log = json.loads((run(root, manifest, folds, "b17", batch_size=17, epochs=2) / "log.json").read_text())
    assert [e["steps"] for e in log["epochs"]] == [1, 1]


def test_same_seed_gives_identical_prediction_bytes(corpus) -> None:
    root, manifest, folds = corpus
    first, second = run(root, manifest, folds, "a"), run(root, manifest, folds, "b")
    assert (first / "predictions.csv").read_bytes() == (second / "predictions.csv").read_bytes()


def test_different_seed_changes_predictions(corpus) -> None:
    root, manifest, folds = corpus
    first = run(root, manifest, folds, "a")
    train_fold(manifest, folds, "toy-sub01", EXPERIMENT, flow_paths(root), 1, root / "b", threads=1, device="cpu")
    assert (first / "predictions.csv").read_bytes() != (root / "b" / "predictions.csv").read_bytes()


def test_interrupted_job_resumes_to_identical_predictions(corpus, monkeypatch) -> None:
    root, manifest, folds = corpus
    reference = run(root, manifest, folds, "reference")
    real_save, saves = loop_module.checkpoint.save, []

    def crash_after_three(path, state):
        real_save(path, state)
        saves.append(state["epoch"])
        if len(saves) == 3:
            raise KeyboardInterrupt("simulated kill after epoch 3")

    monkeypatch.setattr(loop_module.checkpoint, "save", crash_after_three)
    with pytest.raises(KeyboardInterrupt):
        run(root, manifest, folds, "resumed")
    assert not (root / "resumed" / "predictions.csv").exists()
    monkeypatch.setattr(loop_module.checkpoint, "save", real_save)
    resumed = run(root, manifest, folds, "resumed")
    log = json.loads((resumed / "log.json").read_text())
    assert log["resumed_epochs"] == 3
    assert (resumed / "predictions.csv").read_bytes() == (reference / "predictions.csv").read_bytes()


def test_extending_the_epoch_budget_continues_the_same_run(corpus) -> None:
    root, manifest, folds = corpus
    reference = run(root, manifest, folds, "reference")
    run(root, manifest, folds, "extended", epochs=2)
    extended = run(root, manifest, folds, "extended")
    assert (extended / "predictions.csv").read_bytes() == (reference / "predictions.csv").read_bytes()


def test_stale_checkpoint_is_not_resumed(corpus) -> None:
    root, manifest, folds = corpus
    fresh = run(root, manifest, folds, "fresh", lr=0.003)
    run(root, manifest, folds, "stale")
    stale = run(root, manifest, folds, "stale", lr=0.003)
    log = json.loads((stale / "log.json").read_text())
    assert log["resumed_epochs"] == 0 and "different configuration" in log["checkpoint"]
    assert (stale / "predictions.csv").read_bytes() == (fresh / "predictions.csv").read_bytes()


def test_checkpoint_from_other_training_data_is_not_resumed(corpus) -> None:
    root, manifest, folds = corpus
    run(root, manifest, folds, "a")
    with h5py.File(root / "flow" / "sub03.h5", "a") as handle:
        handle["EP00_00/rise"][0, 0, 0] += 5.0
    rerun = run(root, manifest, folds, "a")
    log = json.loads((rerun / "log.json").read_text())
    assert log["resumed_epochs"] == 0 and "different configuration" in log["checkpoint"]


def test_test_fold_never_enters_training(corpus, monkeypatch) -> None:
    root, manifest, folds = corpus
    events: list[tuple[str, object]] = []
    real_create, real_load = methods_module.create_model, methods_module.load_inputs

    def spy_create(*args, **kwargs):
        model = real_create(*args, **kwargs)
        model.register_forward_pre_hook(lambda m, inputs: events.append(("forward", (m.training, inputs[0].clone()))))
        return model

    def spy_load(rows, *args):
        events.append(("load", set(rows["subject"])))
        return real_load(rows, *args)

    monkeypatch.setattr(methods_module, "create_model", spy_create)
    monkeypatch.setattr(methods_module, "load_inputs", spy_load)
    run(root, manifest, folds, "spy", fold="toy-sub02")

    loads = [(i, subjects) for i, (kind, subjects) in enumerate(events) if kind == "load"]
    assert [subjects for _, subjects in loads] == [{"sub01", "sub03", "sub04"}, {"sub02"}]
    test_load_at = loads[1][0]
    train_steps = [(i, value[1]) for i, (kind, value) in enumerate(events) if kind == "forward" and value[0]]
    assert max(i for i, _ in train_steps) < test_load_at
    train_forwards = [inputs for _, inputs in train_steps]
    _, test_rows = split_fold(manifest, folds["folds"][1])
    test_inputs = load_inputs(test_rows, "rise_flow", 28, flow_paths(root))
    seen = torch.cat(train_forwards)
    assert len(seen) == 18 * EXPERIMENT["epochs"]
    for sample in test_inputs:
        assert not (seen == sample).flatten(1).all(dim=1).any()


def test_model_learns_the_synthetic_pattern(tmp_path) -> None:
    manifest = make_corpus(tmp_path, clips_per_class=3)
    folds = loso_folds(manifest)
    out = run(tmp_path, manifest, folds, "learn", epochs=25)
    predictions = pd.read_csv(out / "predictions.csv")
    assert (predictions["pred_index"] == predictions["label_index"]).mean() >= 0.8


def test_class_absent_from_training_is_still_an_output(tmp_path) -> None:
    manifest = make_corpus(tmp_path, absent={"sub02": 2, "sub03": 2, "sub04": 2})
    folds = loso_folds(manifest)
    out = run(tmp_path, manifest, folds, "absent", epochs=2)
    predictions = pd.read_csv(out / "predictions.csv")
    assert "logit_2" in predictions.columns and 2 in set(predictions["label_index"])


def test_rise_fall_input_stacks_six_channels(corpus) -> None:
    root, manifest, folds = corpus
    train_rows, _ = split_fold(manifest, folds["folds"][0])
    both = load_inputs(train_rows, "rise_fall_flow", 12, flow_paths(root))
    rise = load_inputs(train_rows, "rise_flow", 12, flow_paths(root))
    assert both.shape == (18, 6, 12, 12)
    assert torch.equal(both[:, :3], rise)
    run(root, manifest, folds, "six", input="rise_fall_flow", epochs=1)


def test_leaky_folds_are_refused_before_training(corpus) -> None:
    root, manifest, folds = corpus
    bad = [dict(fold) for fold in folds["folds"]]
    bad[0] = {**bad[0], "train": bad[0]["train"] + bad[0]["test"]}
    leaky = {"protocol": "loso", "hash": folds_hash(bad), "folds": bad}
    with pytest.raises(LeakageError):
        run(root, manifest, leaky, "leaky")
    assert not (root / "leaky").exists()


def test_folds_with_a_wrong_hash_are_refused(corpus) -> None:
    root, manifest, folds = corpus
    with pytest.raises(FoldError, match="hash"):
        run(root, manifest, {**folds, "hash": "0" * 64}, "tampered")


def test_missing_flow_names_the_clip(corpus) -> None:
    root, manifest, folds = corpus
    with h5py.File(root / "flow" / "sub03.h5", "a") as handle:
        del handle["EP01_00"]
    with pytest.raises(InputDataError, match="dataset=toy subject=sub03 clip=EP01_00"):
        run(root, manifest, folds, "missing")


def test_non_finite_flow_is_refused(corpus) -> None:
    root, manifest, folds = corpus
    with h5py.File(root / "flow" / "sub04.h5", "a") as handle:
        handle["EP02_01/rise"][0, 0, 0] = np.nan
    with pytest.raises(InputDataError, match="NaN"):
        run(root, manifest, folds, "nan")


def schema_enum(key: str) -> list[str]:
    schema = yaml.safe_load((Path(__file__).resolve().parents[1] / "mer/schemas/params.schema.yaml").read_text())
    return schema["$defs"]["experiment"]["properties"][key]["enum"]


def test_to_model_input_resizes_and_scales_per_channel() -> None:
    flow = np.zeros((3, 16, 16), dtype=np.float32)
    flow[0] = 4.0
    flow[1, :8] = -2.0
    small = to_model_input(flow, 8)
    assert small.shape == (3, 8, 8)
    assert torch.allclose(small[0], torch.ones(8, 8))
    assert small[1].min() == -1.0 and small[1].max() == 0.0
    assert torch.equal(small[2], torch.zeros(8, 8))
    assert to_model_input(flow, 28).shape == (3, 28, 28)


def test_input_scalings_keep_what_their_names_say() -> None:
    flow = np.zeros((3, 8, 8), dtype=np.float32)
    flow[0], flow[1] = 0.6, -0.2  # a motion pointing right and up, three times as far along x
    flow[2, :4] = 0.05
    channel, sample, raw = (to_model_input(flow, 8, scaling) for scaling in ("per_channel", "per_sample", "none"))
    assert channel[0, 0, 0] == 1.0 and channel[1, 0, 0] == -1.0  # direction lost: 45°
    assert sample[1, 0, 0] / sample[0, 0, 0] == pytest.approx(-1 / 3) and sample.abs().max() == 1.0
    assert torch.equal(raw, torch.from_numpy(flow))  # amplitude in pixels kept
    assert torch.equal(to_model_input(2 * flow, 8, "per_sample"), sample)  # amplitude gone
    assert not torch.equal(to_model_input(2 * flow, 8, "none"), raw)
    assert set(SCALINGS) == set(schema_enum("input_scaling"))


def test_class_names_require_consistent_indices() -> None:
    good = pd.DataFrame({"label": ["b", "a", "b"], "label_index": [1, 0, 1]})
    assert class_names(good) == ["a", "b"]
    with pytest.raises(InputDataError, match="several labels"):
        class_names(pd.DataFrame({"label": ["a", "b"], "label_index": [0, 0]}))
    with pytest.raises(InputDataError, match="0..C-1"):
        class_names(pd.DataFrame({"label": ["a", "c"], "label_index": [0, 2]}))


def test_process_wide_torch_settings_are_restored(corpus) -> None:
    root, manifest, folds = corpus
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    experiment = {**EXPERIMENT, "epochs": 1}
    train_fold(manifest, folds, "toy-sub01", experiment, flow_paths(root), 0, root / "x", threads=threads + 1)
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == deterministic
