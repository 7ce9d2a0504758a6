"""MA2MI / MIACNet: the macro video source, the macro synth preset, pre-training, strict loading, fine-tuning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

import mer.methods  # noqa: F401  (registers "miacnet")
from mer import config, synth
from mer.cli import app
from mer.errors import ConfigError, InputDataError
from mer.methods.ma2mi import MIACNet
from mer.methods.ma2mi.method import MIACNetMethod, sidecar_path
from mer.models.pretrained import file_sha256
from mer.pretraining import ma2mi
from mer.pretraining.faces import face_frames
from mer.pretraining.pairs import Frames, draw_pairs, long_enough, pair_inputs
from mer.pretraining.sources import find_videos, natural_key, read_video
from mer.protocols import loso_folds
from mer.training import train_fold
from mer.training.data import to_model_input
from mer.training.methods import create_method
from tests.conftest import REPO
from tests.test_training import EXPERIMENT, make_corpus
from tests.test_training_options import add_faces

SIZE = 16
ARCH = {"width": 8, "action_channels": 8}
PRETRAIN = {
    "root": "synthetic",
    "face": "center",
    "input_size": SIZE,
    "delta": [1, 3],
    "samples_per_epoch": 32,
    "epochs": 4,
    "batch_size": 8,
    "lr": 0.01,
    "weight_decay": 0.0,
    "seed": 0,
    "decouple": True,
    "model_kwargs": ARCH,
}
MACRO = {
    "subjects": 2,
    "clips_per_subject": 1,
    "fps": 30,
    "amplitude_px": [4.0, 10.0],
    "onset_to_apex_frames": [3, 4],
    "apex_to_offset_frames": [3, 4],
    "lead_frames": 1,
    "frame_size": [96, 80],
    "face_size": 64,
}
FINETUNE = {
    **EXPERIMENT,
    "method": "miacnet",
    "model": "miacnet",
    "input": ["onset_frame", "rise_diff"],
    "input_size": SIZE,
    "epochs": 2,
    "model_kwargs": ARCH,
}


def _write_image(path: Path, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((12, 10, 3), value, dtype=np.uint8))


def _write_video(path: Path, values: list[int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (16, 12))
    for value in values:
        writer.write(np.full((12, 16, 3), value, dtype=np.uint8))
    writer.release()


def _toy_video(length: int = 12, size: int = SIZE) -> np.ndarray:
    """(T, S, S, 3) uint8: a bright square sliding right one pixel per frame (wrapping) over a gradient."""
    frames = np.tile(np.linspace(40, 120, size, dtype=np.uint8)[None, :, None], (length, size, 1, 3))
    for t in range(length):
        frames[t, 5:10, 2 + t % (size - 7) : 7 + t % (size - 7)] = [230, 200, 170]
    return frames


def _params(tmp_path: Path, **pretrain: Any) -> dict[str, Any]:
    params = config.load(REPO / "params.yaml")
    params["pretrain"] = {**PRETRAIN, "root": str(tmp_path / "macro"), "synth": MACRO, **pretrain}
    config.validate(params)
    return params


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Any:
    """One torch thread: on a shared 2-core machine, two OpenMP threads spin-wait for each other."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def macro_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic macro corpus (2 subjects × 1 clip), generated once for the module."""
    root = tmp_path_factory.mktemp("macro") / "macro"
    synth.generate("macro", _params(root.parent), root)
    return root


@pytest.fixture(scope="module")
def pretrained(macro_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Encoder weights pre-trained on the tiny macro corpus (with their sidecar)."""
    out = tmp_path_factory.mktemp("weights") / "ma2mi.pt"
    crop = _params(macro_root.parent)["crop"]
    ma2mi.pretrain({**PRETRAIN, "root": str(macro_root)}, macro_root, out, crop, threads=1)
    return out


# --- the video source -------------------------------------------------------------------------


def test_source_reads_frame_folders_and_video_files_in_natural_order(tmp_path: Path) -> None:
    for number in (10, 9, 1, 2):  # written out of order; img10 must come last
        _write_image(tmp_path / "s1" / "clip10" / f"img{number}.png", number * 10)
    for number in (1, 2):
        _write_image(tmp_path / "s1" / "clip2" / f"img{number}.png", 50)
    _write_video(tmp_path / "s2" / "take.avi", [0, 60, 120, 180])
    (tmp_path / "s2" / "notes.txt").write_text("not a video")

    videos = find_videos(tmp_path)
    assert [v.name for v in videos] == ["s1/clip2", "s1/clip10", "s2/take.avi"]
    assert [p.name for p in videos[1].files] == ["img1.png", "img2.png", "img9.png", "img10.png"]
    frames = read_video(videos[1])
    assert frames.shape == (4, 12, 10, 3) and frames.dtype == np.uint8
    assert frames[:, 0, 0, 0].tolist() == [10, 20, 90, 100]
    decoded = read_video(videos[2])
    assert decoded.shape == (4, 12, 16, 3)
    assert np.all(np.diff(decoded.reshape(4, -1).mean(axis=1)) > 40)  # frame order kept (MJPG is lossy)
    assert sorted(["img10", "img9", "IMG1"], key=natural_key) == ["IMG1", "img9", "img10"]


def test_source_errors_name_the_bad_file(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="folder not found"):
        find_videos(tmp_path / "missing")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(InputDataError, match="no video files or frame folders"):
        find_videos(tmp_path / "empty")
    _write_image(tmp_path / "bad" / "clip" / "img1.png", 10)
    (tmp_path / "bad" / "clip" / "img2.png").write_bytes(b"not an image")
    (video,) = find_videos(tmp_path / "bad")
    with pytest.raises(InputDataError, match=r"img2\.png.*cannot be decoded"):
        read_video(video)
    (tmp_path / "broken" / "x.avi").parent.mkdir()
    (tmp_path / "broken" / "x.avi").write_bytes(b"\x00" * 64)
    (broken,) = find_videos(tmp_path / "broken")
    with pytest.raises(InputDataError, match=r"x\.avi"):
        read_video(broken)
    _write_image(tmp_path / "mixed" / "c" / "img1.png", 10)
    cv2.imwrite(str(tmp_path / "mixed" / "c" / "img2.png"), np.zeros((5, 5, 3), np.uint8))
    with pytest.raises(InputDataError, match="differs from the first"):
        read_video(find_videos(tmp_path / "mixed")[0])


def test_face_modes_center_and_detect(macro_root: Path) -> None:
    frames = read_video(find_videos(macro_root)[0])
    centred = face_frames(frames, SIZE, "center", {}, "clip")
    assert centred.shape == (len(frames), SIZE, SIZE, 3)
    crop = _params(macro_root.parent)["crop"]
    detected = face_frames(frames, 32, "detect", crop, "clip")
    assert detected.shape == (len(frames), 32, 32, 3)
    with pytest.raises(InputDataError, match="no face"):
        face_frames(np.zeros((3, 64, 64, 3), np.uint8), 32, "detect", crop, "blank")


# --- the macro synth preset -------------------------------------------------------------------


def test_macro_preset_is_deterministic_and_macro_sized(macro_root: Path, tmp_path: Path) -> None:
    params = _params(tmp_path)
    again = tmp_path / "again"
    synth.generate("macro", params, again)
    files = sorted(p.relative_to(macro_root) for p in macro_root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((macro_root / f).read_bytes() == (again / f).read_bytes() for f in files)
    assert synth.planned_subjects("macro", params) == ["s01", "s02"]
    sized = config.deep_merge(params, {"synth": {"size": "small"}})  # a layout-twin size never applies to macro
    assert synth.planned_subjects("macro", sized) == ["s01", "s02"]
    assert [v.name.split("/")[0] for v in find_videos(macro_root)] == ["s01", "s02"]
    gt = json.loads(next((macro_root / "ground_truth" / "s01").glob("*.json")).read_text())
    assert gt["dataset"] == "macro" and 4.0 <= gt["amplitude_224_px"] <= 10.0
    assert gt["frames"]["last"] - gt["frames"]["first"] + 1 == len(find_videos(macro_root)[0].files)

    other = tmp_path / "other"
    synth.generate("macro", config.deep_merge(params, {"pretrain": {"synth": {"seed": 1}}}), other)
    assert sorted(other.rglob("*.jpg"))[0].read_bytes() != sorted(macro_root.rglob("*.jpg"))[0].read_bytes()
    without = {k: v for k, v in params.items() if k != "pretrain"}
    with pytest.raises(ConfigError, match="pretrain.synth"):
        synth.generate("macro", without, tmp_path / "none")


# --- pairs and pre-training -------------------------------------------------------------------


def test_pairs_are_seeded_in_range_and_scaled_like_the_pipeline() -> None:
    frames = Frames.stack([_toy_video(6), _toy_video(9)])
    pairs = draw_pairs(frames.lengths, 200, (2, 4), torch.Generator().manual_seed(3))
    assert torch.equal(pairs, draw_pairs(frames.lengths, 200, (2, 4), torch.Generator().manual_seed(3)))
    video, start, delta = pairs.T
    assert set(delta.tolist()) == {2, 3, 4} and set(video.tolist()) == {0, 1}
    assert bool((start >= 0).all()) and bool((start + delta < frames.lengths[video]).all())

    reference, change, target = pair_inputs(frames, pairs[:4])
    now = frames.frames[frames.starts[video[0]] + start[0]].float()
    later = frames.frames[frames.starts[video[0]] + start[0] + delta[0]].float()
    assert torch.equal(reference[0], to_model_input(now.numpy(), SIZE))
    assert torch.equal(change[0], to_model_input((later - now).numpy(), SIZE))
    assert torch.allclose(target[0] * now.amax(dim=(1, 2), keepdim=True), later)


def test_reconstruction_loss_decreases_on_a_toy_video_and_weights_are_reproducible(tmp_path: Path) -> None:
    (tmp_path / "videos" / "clip").mkdir(parents=True)
    for t, frame in enumerate(_toy_video(14)):
        cv2.imwrite(str(tmp_path / "videos" / "clip" / f"{t}.png"), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    for name in ("a", "b"):
        section = {**PRETRAIN, "root": str(tmp_path / "videos"), "epochs": 6}
        record = ma2mi.pretrain(section, tmp_path / "videos", tmp_path / name / "w.pt", {}, threads=1, device="cpu")
        losses = [entry["loss"] for entry in record["epochs"]]
        assert losses[-1] < 0.7 * losses[0], losses
    assert file_sha256(tmp_path / "a" / "w.pt") == file_sha256(tmp_path / "b" / "w.pt")
    sidecar = json.loads(sidecar_path(tmp_path / "a" / "w.pt").read_text())
    assert sidecar["sha256"] == file_sha256(tmp_path / "a" / "w.pt")
    assert sidecar["params"]["delta"] == [1, 3] and sidecar["data"]["frames"] == 14
    assert set(sidecar["epochs"][0]) == {"epoch", "loss", "seconds", "samples_per_second"}
    check = sidecar["action_check"]
    assert check["reconstruction"] == "residual" and check["pairs"] == ma2mi.DIAGNOSTIC_PAIRS
    assert 0 < check["true_action"] and 0 < check["zero_action"]


ACTION_CHECK = {  # the smallest run that learns the macro clips' motion (≈ 12 s per target on one CPU thread)
    "input_size": 32,
    "delta": [1, 4],
    "samples_per_epoch": 512,
    "epochs": 12,
    "batch_size": 16,
    "lr": 0.002,
    "model_kwargs": {"width": 32, "action_channels": 16},
}


def test_pretrained_reconstruction_needs_the_true_action_only_with_the_residual_target(macro_root: Path) -> None:
    """Issue 13's copy shortcut, measured: after pre-training on the macro preset, zeroing the
    action costs the residual target far more than the frame target (measured 1.40× vs 1.05×)."""
    crop = _params(macro_root.parent)["crop"]
    ratios = {}
    for target in ("residual", "frame"):
        section = {**PRETRAIN, **ACTION_CHECK, "root": str(macro_root), "reconstruction": target}
        out = macro_root.parent / f"check-{target}" / "w.pt"
        check = ma2mi.pretrain(section, macro_root, out, crop, threads=1, device="cpu")["action_check"]
        ratios[target] = check["zero_action"] / check["true_action"]
    assert ratios["residual"] > 1.25, ratios
    assert ratios["frame"] < 1.15 < ratios["residual"], ratios


def test_reconstruction_targets_are_the_change_or_the_later_frame() -> None:
    """`residual` compares the decoder's output with the scaled change, `frame` with I_{t+δ}."""
    frames = Frames.stack([_toy_video(6)])
    pairs = torch.tensor([[0, 1, 2]])
    reference, change, later = pair_inputs(frames, pairs)
    assert torch.equal(ma2mi.RECONSTRUCTIONS["residual"](reference, change, later), change)
    assert torch.equal(ma2mi.RECONSTRUCTIONS["frame"](reference, change, later), later)
    schema_names = config.schema()["$defs"]["pretrain"]["properties"]["reconstruction"]["enum"]
    assert sorted(schema_names) == sorted(ma2mi.RECONSTRUCTIONS)


def test_pretrain_settings_variants_and_checks(tmp_path: Path) -> None:
    params = _params(tmp_path, variants={"short": {"delta": [1, 2]}, "bad": {"delta": [0, 2]}})
    assert ma2mi.settings(params, "short")["delta"] == [1, 2] and "variants" not in ma2mi.settings(params)
    assert ma2mi.output_path("short") == Path("results/pretrained/ma2mi-short.pt")
    assert ma2mi.data_root({"root": "synthetic"}) == Path("data/pretrain/macro")
    with pytest.raises(ConfigError, match="variants.bad"):
        ma2mi.settings(params, "bad")
    with pytest.raises(ConfigError, match="no 'nope'"):
        ma2mi.settings(params, "nope")
    with pytest.raises(ConfigError, match="δ_min ≤ δ_max"):
        ma2mi.check({**PRETRAIN, "delta": [3, 2]})
    with pytest.raises(ConfigError, match="multiple of 8"):
        ma2mi.check({**PRETRAIN, "input_size": 20})
    assert long_enough([5, 9, 4], (1, 4)) == [0, 1]
    with pytest.raises(InputDataError, match="more than δ_max = 30"):
        long_enough([5, 9], (1, 30))


# --- MIACNet ----------------------------------------------------------------------------------


def test_branches_see_different_inputs_and_features_have_the_documented_shapes() -> None:
    torch.manual_seed(0)
    model = MIACNet(num_classes=3, width=16, action_channels=8)
    seen: dict[str, torch.Tensor] = {}
    model.encoder.position.register_forward_hook(lambda m, args, out: seen.update(position_in=args[0]))
    model.encoder.action.register_forward_hook(lambda m, args, out: seen.update(action_in=args[0]))
    reference, change = torch.rand(2, 3, 32, 32), torch.randn(2, 3, 32, 32)
    features = model.encoder(reference, change)
    assert seen["position_in"] is reference and seen["action_in"] is change
    assert features.position.shape == (2, 16, 4, 4) and features.action.shape == (2, 8, 4, 4)
    assert features.fused.shape == (2, 16, 4, 4) and features.joint is None
    assert model(reference, change).shape == (2, 3)
    # The position branch never sees the change: altering it leaves P unchanged and A changed.
    altered = model.encoder(reference, change + 1.0)
    assert torch.equal(altered.position, features.position) and not torch.equal(altered.action, features.action)

    joint = MIACNet(num_classes=3, width=16, action_channels=8, decouple=False)
    assert not hasattr(joint.encoder, "position") and joint.encoder.joint[0][0].in_channels == 6
    single = joint.encoder(reference, change)
    assert single.position is None and single.joint.shape == (2, 24, 4, 4) and single.fused.shape == (2, 16, 4, 4)


def _built(decouple: bool = True, **arch: int) -> tuple[MIACNetMethod, torch.nn.Module]:
    method = create_method({**FINETUNE, "method_kwargs": {"decouple": decouple}})
    inputs = {"onset_frame": torch.rand(2, 3, SIZE, SIZE), "rise_diff": torch.rand(2, 3, SIZE, SIZE)}
    torch.manual_seed(0)
    return method, method.build({**FINETUNE, "model_kwargs": {**ARCH, **arch}}, 3, inputs)


def test_pretrained_encoder_loads_strictly_and_the_classifier_starts_fresh(pretrained: Path) -> None:
    method, model = _built()
    classifier = {k: v.clone() for k, v in model.classifier.state_dict().items()}
    record = method.load_pretrained(model, str(pretrained))
    saved = torch.load(pretrained, weights_only=True)
    assert all(torch.equal(model.encoder.state_dict()[k], v) for k, v in saved.items())
    assert set(saved) == set(model.encoder.state_dict())
    assert all(torch.equal(model.classifier.state_dict()[k], v) for k, v in classifier.items())
    assert record["sha256"] == file_sha256(pretrained) and record["part"] == "encoder"
    assert record["pretraining"]["delta"] == [1, 3]


def test_wrong_pretrained_files_are_rejected(pretrained: Path, tmp_path: Path) -> None:
    method, wider = _built(width=16)
    with pytest.raises(ConfigError, match="shape"):
        method.load_pretrained(wider, str(pretrained))
    method, joint = _built(decouple=False)
    with pytest.raises(ConfigError, match="does not fit"):
        method.load_pretrained(joint, str(pretrained))
    method, model = _built()
    whole = tmp_path / "whole.pt"
    torch.save(model.state_dict(), whole)  # the whole classifier network, not the encoder
    with pytest.raises(ConfigError, match="does not fit"):
        method.load_pretrained(model, str(whole))
    stale = tmp_path / "stale.pt"
    stale.write_bytes(pretrained.read_bytes())
    sidecar_path(stale).write_text(json.dumps({"sha256": "0" * 64, "params": {}}))
    with pytest.raises(ConfigError, match="describes another file"):
        method.load_pretrained(model, str(stale))


def test_method_refuses_inputs_it_cannot_map() -> None:
    method = create_method(FINETUNE)
    inputs = {"onset_frame": torch.rand(2, 3, SIZE, SIZE), "rise_diff": torch.rand(2, 3, SIZE, SIZE)}
    with pytest.raises(ConfigError, match="model: miacnet"):
        method.build({**FINETUNE, "model": "ststnet"}, 3, inputs)
    with pytest.raises(ConfigError, match="lacks"):
        method.build({**FINETUNE, "input": ["onset_frame"]}, 3, {"onset_frame": inputs["onset_frame"]})
    with pytest.raises(ConfigError, match="remove"):
        method.build({**FINETUNE, "input": ["onset_frame", "rise_diff", "fall_diff"]}, 3, inputs)
    with pytest.raises(ConfigError, match="different inputs"):
        create_method({**FINETUNE, "method_kwargs": {"change": "onset_frame"}})


# --- fine-tuning end to end -------------------------------------------------------------------


def test_train_fold_fine_tunes_from_the_pretrained_encoder(pretrained: Path, tmp_path: Path) -> None:
    manifest = make_corpus(tmp_path)
    sources = add_faces(tmp_path, manifest)
    folds = loso_folds(manifest)
    for name, changes in {"full": {"pretrained": str(pretrained)}, "scratch": {},
                          "joint": {"method_kwargs": {"decouple": False}}}.items():  # fmt: skip
        out = tmp_path / name
        train_fold(manifest, folds, "toy-sub01", {**FINETUNE, **changes}, sources, 0, out, threads=1, device="cpu")
        log = json.loads((out / "log.json").read_text())
        assert len(log["epochs"]) == 2 and (out / "predictions.csv").is_file()
        if name == "full":
            assert log["pretrained"]["sha256"] == file_sha256(pretrained)
            assert log["pretrained"]["part"] == "encoder"
        else:
            assert log["pretrained"] is None


def test_cli_pretrain_writes_weights_and_sidecar(macro_root: Path, tmp_path: Path) -> None:
    params = _params(tmp_path, root=str(macro_root), epochs=1, variants={"short": {"delta": [1, 2]}})
    file = tmp_path / "params.yaml"
    file.write_text(yaml.safe_dump(params))
    out = tmp_path / "w.pt"
    result = CliRunner().invoke(app, ["pretrain", "-p", str(file), "--variant", "short", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads(sidecar_path(out).read_text())["params"]["delta"] == [1, 2]
    assert CliRunner().invoke(app, ["pretrain", "--help"]).exit_code == 0
    missing = CliRunner().invoke(app, ["pretrain", "-p", str(file), "--variant", "nope", "--out", str(out)])
    assert missing.exit_code == 2 and "nope" in missing.output
