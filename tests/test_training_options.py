"""train_fold options: inner validation from training subjects, instance-level folds,
difference-image inputs, other models and strict local pretrained weights."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from mer.errors import ConfigError, InputDataError
from mer.models import create_model
from mer.models.pretrained import file_sha256, save_weights
from mer.protocols import loso_folds, make_folds
from mer.training import InputSources, train_fold
from mer.training import loop as loop_module
from mer.training import methods as methods_module
from mer.training.data import load_inputs
from mer.training.jobs import input_files, job_resources
from mer.training.validation import carve
from tests.test_training import EXPERIMENT, SUBJECTS, flow_paths, make_corpus, run

FACE = 12


def add_faces(root: Path, manifest: pd.DataFrame) -> InputSources:
    """Face crops with frames 1..9 (apex 5) and keyframes.csv for every manifest clip."""
    rng = np.random.default_rng(5)
    (root / "faces").mkdir(exist_ok=True)
    for subject, rows in manifest.groupby("subject"):
        with h5py.File(root / "faces" / f"{subject}.h5", "w") as handle:
            for clip in rows["clip"]:
                frames = rng.integers(0, 200, size=(9, FACE, FACE, 3), dtype=np.uint8)
                frames[4] = np.minimum(frames[0].astype(int) + 40, 255)  # apex brighter than onset
                group = handle.create_group(clip)
                group.create_dataset("frames", data=frames)
                group.create_dataset("frame_numbers", data=np.arange(1, 10, dtype=np.int32))
    table = manifest[["dataset", "subject", "clip", "onset", "apex", "offset"]]
    table.to_csv(root / "keyframes.csv", index=False)
    return InputSources(
        flow=flow_paths(root).flow,
        faces=lambda dataset, subject: root / "faces" / f"{subject}.h5",
        keyframes=lambda dataset: root / "keyframes.csv",
    )


@pytest.fixture()
def corpus(tmp_path: Path) -> tuple[Path, pd.DataFrame, dict]:
    manifest = make_corpus(tmp_path)
    return tmp_path, manifest, loso_folds(manifest)


def test_inner_validation_carves_whole_training_subjects_only(corpus) -> None:
    root, manifest, folds = corpus
    train = manifest[manifest["subject"] != "sub01"]
    fit, val = carve(train, {"fraction": 0.34, "seed": 0}, "toy-sub01")
    assert set(val["subject"]).isdisjoint(fit["subject"]) and len(set(val["subject"])) == 1
    assert "sub01" not in set(val["subject"]) | set(fit["subject"])
    assert carve(train, {"fraction": 0.34, "seed": 0}, "x")[1].equals(val)
    with pytest.raises(InputDataError, match="two training subjects"):
        carve(train[train["subject"] == "sub02"], {"fraction": 0.5, "seed": 0}, "x")


def spy_loaded_subjects(monkeypatch: pytest.MonkeyPatch) -> list[set[str]]:
    """The subjects of every load_inputs call a method makes from now on, in call order."""
    loaded: list[set[str]] = []
    real_load = methods_module.load_inputs

    def spy(rows, *args):
        loaded.append(set(rows["subject"]))
        return real_load(rows, *args)

    monkeypatch.setattr(methods_module, "load_inputs", spy)
    return loaded


def test_inner_validation_selects_an_epoch_without_reading_the_test_fold(corpus, monkeypatch) -> None:
    root, manifest, folds = corpus
    real_load = methods_module.load_inputs
    loaded = spy_loaded_subjects(monkeypatch)
    out = run(root, manifest, folds, "inner", inner_validation={"fraction": 0.34, "seed": 1}, epochs=12)
    log = json.loads((out / "log.json").read_text())
    assert loaded[-1] == {"sub01"} and all("sub01" not in subjects for subjects in loaded[:-1])
    assert log["validation_subjects"] and ["toy", "sub01"] not in log["validation_subjects"]
    assert log["n_train"] + log["n_validation"] == 18
    scores = [epoch["val_uf1"] for epoch in log["epochs"]]
    assert log["selected_epoch"] == 1 + scores.index(max(scores))
    assert "inner-validation" in log["selection"]
    # the test fold is predicted with the selected epoch's weights, not the last ones
    best = torch.load(out / "checkpoint.pt", weights_only=True)["best"]
    assert best["epoch"] == log["selected_epoch"]
    model = create_model("ststnet", num_classes=3, in_chans=3, input_size=28)
    model.load_state_dict(best["model"])
    model.eval()
    test_rows = manifest[manifest["subject"] == "sub01"].reset_index(drop=True)
    with torch.no_grad():
        logits = model(real_load(test_rows, "rise_flow", 28, flow_paths(root))).numpy()
    predictions = pd.read_csv(out / "predictions.csv")
    assert np.allclose(predictions[["logit_0", "logit_1", "logit_2"]].to_numpy(), logits, rtol=1e-5, atol=1e-5)


def test_inner_validation_run_resumes_to_identical_predictions(corpus, monkeypatch) -> None:
    root, manifest, folds = corpus
    options = {"inner_validation": {"fraction": 0.34, "seed": 1}}
    reference = run(root, manifest, folds, "reference", **options)
    real_save = loop_module.checkpoint.save
    calls = []

    def crash(path, state):
        real_save(path, state)
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(loop_module.checkpoint, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        run(root, manifest, folds, "resumed", **options)
    monkeypatch.setattr(loop_module.checkpoint, "save", real_save)
    resumed = run(root, manifest, folds, "resumed", **options)
    assert json.loads((resumed / "log.json").read_text())["resumed_epochs"] == 4
    assert (resumed / "predictions.csv").read_bytes() == (reference / "predictions.csv").read_bytes()


def test_instance_level_fold_trains_on_other_samples_of_the_same_subjects(corpus) -> None:
    root, manifest, _ = corpus
    folds = make_folds({"name": "ilcv", "n_folds": 3, "seed": 0}, manifest)
    out = run(root, manifest, folds, "ilcv", fold="ilcv-k0", epochs=1)
    predictions = pd.read_csv(out / "predictions.csv", dtype={"subject": str})
    test = {tuple(unit) for unit in folds["folds"][0]["test"]}
    assert set(zip(predictions["dataset"], predictions["subject"], predictions["clip"], strict=True)) == test
    log = json.loads((out / "log.json").read_text())
    assert log["level"] == "instance" and log["n_train"] + log["n_test"] == len(manifest)


def test_difference_inputs_read_face_crops_at_the_keyframes(corpus) -> None:
    root, manifest, folds = corpus
    sources = add_faces(root, manifest)
    rows = manifest.iloc[:2]
    rise = load_inputs(rows, "rise_diff", FACE, sources)
    both = load_inputs(rows, "rise_fall_diff", FACE, sources)
    assert rise.shape == (2, 3, FACE, FACE) and both.shape == (2, 6, FACE, FACE)
    assert torch.equal(both[:, :3], rise)
    with h5py.File(root / "faces" / f"{rows.iloc[0]['subject']}.h5") as handle:
        frames = handle[rows.iloc[0]["clip"]]["frames"][()].astype(np.float32)
    expected = (frames[4] - frames[0]).transpose(2, 0, 1)
    expected = expected / np.abs(expected).max(axis=(1, 2), keepdims=True)
    assert np.allclose(rise[0].numpy(), expected, atol=1e-6)
    train_fold(manifest, folds, "toy-sub01", {**EXPERIMENT, "input": "rise_diff", "epochs": 1}, sources, 0,
               root / "diff", device="cpu")
    assert (root / "diff" / "predictions.csv").is_file()


def test_difference_inputs_name_a_missing_keyframe(corpus) -> None:
    root, manifest, folds = corpus
    sources = add_faces(root, manifest)
    table = pd.read_csv(root / "keyframes.csv")
    table.loc[0, "apex"] = 42
    table.to_csv(root / "keyframes.csv", index=False)
    row = manifest.iloc[:1]
    with pytest.raises(InputDataError, match=f"subject={row.iloc[0]['subject']} clip={row.iloc[0]['clip']} frame=42"):
        load_inputs(row, "rise_diff", FACE, sources)
    with pytest.raises(InputDataError, match="need the face crops"):
        load_inputs(row, "rise_diff", FACE, flow_paths(root))


@pytest.mark.parametrize(
    ("model", "kwargs", "size"),
    [
        ("offapexnet", {"hidden": 16}, 28),
        ("resnet18", {}, 32),
        ("vit_base_patch16_224", {"depth": 1, "embed_dim": 16, "num_heads": 2, "patch_size": 8}, 32),
    ],
)
def test_other_models_train_from_strict_local_weights(corpus, model, kwargs, size) -> None:
    root, manifest, folds = corpus
    torch.manual_seed(0)
    weights = root / f"{model}.pth"
    sha = save_weights(create_model(model, num_classes=7, in_chans=3, input_size=size, **kwargs), weights)
    out = run(root, manifest, folds, model, model=model, model_kwargs=kwargs, input_size=size,
              pretrained=str(weights), epochs=1)
    log = json.loads((out / "log.json").read_text())
    assert log["pretrained"]["sha256"] == sha == file_sha256(weights)
    assert log["pretrained"]["reinitialised"]  # 7-class head replaced by a 3-class one
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["fingerprint"]["pretrained_sha256"] == sha


def test_weights_for_another_architecture_are_refused(corpus) -> None:
    root, manifest, folds = corpus
    weights = root / "ststnet.pth"
    save_weights(create_model("ststnet", num_classes=3, in_chans=3, input_size=28), weights)
    with pytest.raises(ConfigError, match="does not fit|has shape"):
        run(root, manifest, folds, "wrong", model="offapexnet", pretrained=str(weights), epochs=1)
    with pytest.raises(ConfigError, match="never downloaded"):
        run(root, manifest, folds, "absent", pretrained=str(root / "nowhere.pth"), epochs=1)


def test_job_inputs_and_resources() -> None:
    subjects = {"toy": SUBJECTS[:2]}
    flows = input_files({**EXPERIMENT, "input": "rise_flow"}, subjects)
    assert flows == ["data/processed/toy/flow/sub01.h5", "data/processed/toy/flow/sub02.h5"]
    diffs = input_files({**EXPERIMENT, "input": "fall_diff"}, subjects)
    faces = ["data/interim/toy/faces/sub01.h5", "data/interim/toy/faces/sub02.h5"]
    assert diffs == [*faces, "data/interim/toy/keyframes.csv"]
    assert job_resources(EXPERIMENT) == {"mem_mb": 2000, "runtime": 30, "gpu": 0}
    assert job_resources({**EXPERIMENT, "resources": {"gpu": 1}})["gpu"] == 1


def test_instance_flows_stack_the_cached_multi_instance_set(corpus) -> None:
    root, manifest, folds = corpus
    rng = np.random.default_rng(0)
    for subject in SUBJECTS:
        with h5py.File(root / "flow" / f"{subject}.h5", "a") as handle:
            for clip in handle:
                handle[clip].create_dataset("instances", data=rng.normal(size=(2, 3, 16, 16)).astype(np.float32))
    rows = manifest.iloc[:3]
    stacked = load_inputs(rows, "instance_flows", 16, flow_paths(root))
    assert stacked.shape == (3, 6, 16, 16)
    with h5py.File(root / "flow" / f"{rows.iloc[0]['subject']}.h5") as handle:
        second = handle[rows.iloc[0]["clip"]]["instances"][1]
    assert np.allclose(stacked[0, 3:].numpy(), second / np.abs(second).max(axis=(1, 2), keepdims=True), atol=1e-6)
    out = run(root, manifest, folds, "instances", input="instance_flows", input_size=16, epochs=1)
    assert (out / "predictions.csv").is_file()
    with h5py.File(root / "flow" / f"{rows.iloc[0]['subject']}.h5", "a") as handle:  # an `all` cache: sizes differ
        del handle[rows.iloc[0]["clip"]]["instances"]
        handle[rows.iloc[0]["clip"]].create_dataset("instances", data=np.ones((3, 3, 16, 16), np.float32))
    with pytest.raises(InputDataError, match=r"\[6, 9\] channels"):
        load_inputs(rows, "instance_flows", 16, flow_paths(root))


def test_experiment_keyframes_choose_the_triple_of_face_inputs(tmp_path) -> None:
    from mer.training.inputs import _keyframes
    from mer.training.jobs import check_keyframes_choice

    path = tmp_path / "keyframes.csv"
    pd.DataFrame(
        {"dataset": ["d"], "subject": ["s1"], "clip": ["c1"], "onset": [3], "apex": [9], "offset": [20],
         "onset_annotated": [2], "apex_annotated": [7], "offset_annotated": [21]}
    ).to_csv(path, index=False)  # fmt: skip
    sources = InputSources(flow=lambda d, s: tmp_path, faces=lambda d, s: tmp_path, keyframes=lambda d: path)
    assert _keyframes(sources, ["d"]) == {("d", "s1", "c1"): (3, 9, 20)}
    annotated = InputSources(flow=sources.flow, faces=sources.faces, keyframes=sources.keyframes, triple="annotated")
    assert _keyframes(annotated, ["d"]) == {("d", "s1", "c1"): (2, 7, 21)}
    with pytest.raises(InputDataError, match="apex_spotted"):
        _keyframes(InputSources(flow=sources.flow, faces=sources.faces, keyframes=lambda d: path, triple="spotted"), ["d"])
    check_keyframes_choice("e", {"input": "rise_diff", "keyframes": "annotated"}, "reselected")
    check_keyframes_choice("e", {"input": "rise_flow", "keyframes": "reselected"}, "reselected")
    with pytest.raises(ConfigError, match="experiments.e.keyframes"):
        check_keyframes_choice("e", {"input": ["rise_flow", "onset_frame"], "keyframes": "annotated"}, "reselected")


def test_optimizer_and_lr_decay_follow_the_experiment(corpus, monkeypatch) -> None:
    root, manifest, folds = corpus
    seen: list[tuple[str, list[float]]] = []
    real_epoch = loop_module.train_epoch

    def spy(method, model, keys, loader, optimizer, dev):
        seen.append((type(optimizer).__name__, [g["lr"] for g in optimizer.param_groups]))
        return real_epoch(method, model, keys, loader, optimizer, dev)

    monkeypatch.setattr(loop_module, "train_epoch", spy)
    run(root, manifest, folds, "decay", optimizer="adamw", lr_decay=0.5, lr=0.004, epochs=3)
    assert [name for name, _ in seen] == ["AdamW"] * 3
    assert [lrs[0] for _, lrs in seen] == pytest.approx([0.004, 0.002, 0.001])
