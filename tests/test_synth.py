"""The synthetic CASME II twin: real layout, byte-identical reruns, ground truth that matches the pixels."""

from __future__ import annotations

import collections
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import pytest

from mer import config, synth
from mer.errors import ConfigError
from mer.synth import registry
from mer.synth.appearance import draw_appearance, render_base
from mer.synth.casme2 import CODING_FILE, GROUND_TRUTH_DIR, IDENTITIES, RAW_DIR, STYLE
from mer.synth.coding import write_coding
from mer.synth.field import displacement_field
from mer.synth.identity import identity_distances
from mer.synth.plan import allocate, plan_corpus
from mer.synth.render import render_frame
from mer.synth.seeds import rng

REPO = Path(__file__).resolve().parents[1]
SMALL = {
    "synth": {
        "subjects": 2,
        "clips_per_subject": 5,
        "frame_size": [160, 128],
        "face_size": 80,
        "onset_to_apex_frames": [4, 7],
        "apex_to_offset_frames": [4, 7],
        "lead_frames": 2,
    }
}
# No noise, flicker, drift or JPEG loss: frames then differ only by the ground-truth motion.
CLEAN = {"synth": {"noise_sd": 0.0, "flicker": 0.0, "drift_px": 0.0, "jpeg_quality": 100}}


def _params(*overrides: dict[str, Any]) -> dict[str, Any]:
    params = config.load(REPO / "params.yaml")
    for override in overrides:
        params = config.deep_merge(params, override)
    config.validate(params)
    return params


def _digests(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _ground_truths(root: Path) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted((root / GROUND_TRUTH_DIR).glob("*/*.json"))]


def _frame(root: Path, gt: dict[str, Any], number: int) -> np.ndarray:
    path = root / RAW_DIR / gt["subject"] / gt["clip"] / f"img{number}.jpg"
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB).astype(np.float64)


def _warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """image(x + flow(x)): what frame_a looks like if flow is the a→b flow and image is frame_b."""
    height, width = flow.shape[1:]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    return cv2.remap(
        image.astype(np.float32),
        x + flow[0].astype(np.float32),
        y + flow[1].astype(np.float32),
        cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REFLECT,
    ).astype(np.float64)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth") / "casme2"
    synth.generate("casme2", _params(SMALL), root)
    return root


@pytest.fixture(scope="module")
def clean_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("clean") / "casme2"
    synth.generate("casme2", _params(SMALL, CLEAN), root)
    return root


def test_layout_matches_real_casme2(corpus: Path) -> None:
    params = _params(SMALL)["synth"]
    width, height = params["frame_size"]
    gts = _ground_truths(corpus)
    assert len(gts) == params["subjects"] * params["clips_per_subject"]
    starts = set()
    for gt in gts:
        folder = corpus / RAW_DIR / gt["subject"] / gt["clip"]
        assert re.fullmatch(r"sub\d\d", gt["subject"]) and re.fullmatch(r"EP\d\d_\d\df?", gt["clip"])
        names = sorted(path.name for path in folder.iterdir())
        assert all(re.fullmatch(r"img[1-9]\d*\.jpg", name) for name in names)
        numbers = sorted(int(name[3:-4]) for name in names)
        frames = gt["frames"]
        lead = params["lead_frames"]
        assert numbers == list(range(frames["onset"] - lead, frames["offset"] + lead + 1))
        assert frames["first"] == numbers[0] and frames["last"] == numbers[-1]
        assert frames["onset"] < frames["apex"] < frames["offset"]
        assert frames["onset"] < frames["apex_annotated"] < frames["offset"]
        starts.add(numbers[0])
        image = cv2.imread(str(folder / names[0]), cv2.IMREAD_UNCHANGED)
        assert image.shape == (height, width, 3)
    assert len(starts) > 1 and min(starts) >= 20


def test_clip_names_repeat_across_subjects(corpus: Path) -> None:
    subjects_of = collections.defaultdict(set)
    for gt in _ground_truths(corpus):
        subjects_of[gt["clip"]].add(gt["subject"])
    assert any(len(subjects) > 1 for subjects in subjects_of.values())
    full = plan_corpus(_params({"synth": {"subjects": 26, "clips_per_subject": 10}})["synth"], STYLE)
    counts = collections.Counter(plan.clip for plan in full)
    assert sum(1 for count in counts.values() if count > 1) >= 20
    assert len({(plan.subject, plan.clip) for plan in full}) == len(full)


def test_coding_file_reads_with_the_real_idiom(corpus: Path) -> None:
    path = corpus / CODING_FILE
    full = pd.read_excel(path)
    assert list(full.columns) == [
        "Subject", "Filename", "Unnamed: 2", "OnsetFrame", "ApexFrame", "OffsetFrame", "Unnamed: 6",
        "Action Units", "Estimated Emotion",
    ]
    table = pd.read_excel(path, usecols=[0, 1, 3, 4, 5, 7, 8])
    assert list(table.columns) == [
        "Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion",
    ]
    keys = list(zip(table["Subject"], table["Filename"], strict=True))
    assert keys == sorted(keys)
    assert table["Estimated Emotion"].str.islower().all()
    truth = {(int(gt["subject"][3:]), gt["clip"]): gt for gt in _ground_truths(corpus)}
    assert set(keys) == set(truth)
    for row in table.itertuples(index=False):
        gt = truth[(row.Subject, row.Filename)]
        frames = gt["frames"]
        annotated = (frames["onset"], frames["apex_annotated"], frames["offset"])
        assert (row.OnsetFrame, row.ApexFrame, row.OffsetFrame) == annotated
        assert str(row[5]) == gt["action_units"] and row[6] == gt["emotion"]


def test_coding_file_bytes_do_not_depend_on_the_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [(1, "EP02_01f", None, 46, 59, 86, None, "1+2", "surprise")]
    write_coding(tmp_path / "now.xlsx", rows)
    later = time.time() + 400 * 86400
    monkeypatch.setattr(time, "time", lambda: later)
    write_coding(tmp_path / "later.xlsx", rows)
    assert (tmp_path / "now.xlsx").read_bytes() == (tmp_path / "later.xlsx").read_bytes()


def test_planned_subjects_are_the_generated_folders(corpus: Path) -> None:
    generated = sorted(path.name for path in (corpus / RAW_DIR).iterdir())
    assert synth.planned_subjects("casme2", _params(SMALL)) == generated == ["sub01", "sub02"]
    default = _params()
    assert synth.planned_subjects("casme2", default) == [f"sub{i:02d}" for i in range(1, default["synth"]["subjects"] + 1)]


def test_same_params_give_identical_bytes(corpus: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    synth.generate("casme2", _params(SMALL), again)
    assert _digests(again) == _digests(corpus)
    other_seed = tmp_path / "seed1"
    synth.generate("casme2", _params(SMALL, {"synth": {"seed": 1}}), other_seed)
    assert _digests(other_seed) != _digests(corpus)


def test_generate_replaces_only_after_success(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "casme2"
    root.mkdir()
    (root / "stale.txt").write_text("old corpus")

    def crash(synth_params: dict[str, Any], folder: Path) -> None:
        (folder / "half.txt").write_text("partial")
        raise RuntimeError("crash mid-generation")

    def succeed(synth_params: dict[str, Any], folder: Path) -> None:
        (folder / "new.txt").write_text("complete")

    monkeypatch.setitem(registry.PRESETS, "casme2", registry.Preset(subjects=lambda p: [], write=crash))
    with pytest.raises(RuntimeError):
        synth.generate("casme2", _params(SMALL), root)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["casme2"]
    assert [path.name for path in root.iterdir()] == ["stale.txt"]

    monkeypatch.setitem(registry.PRESETS, "casme2", registry.Preset(subjects=lambda p: [], write=succeed))
    synth.generate("casme2", _params(SMALL), root)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["casme2"]
    assert [path.name for path in root.iterdir()] == ["new.txt"]


def test_unknown_dataset_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no synthetic preset for dataset 'nope'"):
        synth.planned_subjects("nope", _params())
    with pytest.raises(ConfigError, match="nope"):
        synth.generate("nope", _params(), tmp_path / "nope")


def test_flow_convention_on_a_ramp() -> None:
    """Content moving 1 px right gives flow +1 in x, and frame_a(x) = frame_b(x + flow(x))."""
    gt = {
        "frame_size": [40, 30],
        "frames": {"onset": 0, "apex": 5, "offset": 10},
        "motion": {
            "bumps": [{"center": [20.0, 15.0], "sigma": [1e6, 1e6], "angle": 0.3, "vector": [1.0, -0.5]}],
            "drift": {"vector": [0.0, 0.0], "first": 0, "last": 10},
        },
    }
    flow = displacement_field(gt, 0, 5)
    np.testing.assert_allclose(flow[:, 15, 20], [1.0, -0.5], atol=1e-9)
    np.testing.assert_allclose(displacement_field(gt, 5, 0)[:, 15, 20], [-1.0, 0.5], atol=1e-9)
    y, x = np.mgrid[0:30, 0:40].astype(np.float32)
    ramp = np.repeat((2 * x + 3 * y + 50)[..., None], 3, axis=2)
    motion = np.stack([np.full((30, 40), 1.0), np.full((30, 40), -0.5)])
    onset = render_frame(ramp, 0 * motion, 1.0, np.zeros_like(ramp)).astype(np.float64)
    apex = render_frame(ramp, motion, 1.0, np.zeros_like(ramp)).astype(np.float64)
    inner = np.s_[5:-5, 5:-5]
    np.testing.assert_allclose(_warp(apex, flow)[inner], onset[inner], atol=0.51)


def test_ground_truth_motion_reproduces_the_frames(clean_corpus: Path, corpus: Path) -> None:
    """Warping the onset frame by the GT flow predicts the apex frame far better than no warp.

    Both directions, errors taken where the GT motion exceeds a quarter of the clip's
    amplitude. The clean corpus keeps a floor of uint8 rounding and of re-interpolating an
    already warped frame; the noisy one adds sensor noise, flicker and JPEG error.
    """
    for root, ratio in ((clean_corpus, 0.3), (corpus, 0.75)):
        for gt in _ground_truths(root):
            frames = gt["frames"]
            onset, apex = _frame(root, gt, frames["onset"]), _frame(root, gt, frames["apex"])
            images = {frames["onset"]: onset, frames["apex"]: apex}
            for a, b in ((frames["apex"], frames["onset"]), (frames["onset"], frames["apex"])):
                flow = displacement_field(gt, a, b)
                moving = np.hypot(*flow) > 0.25 * gt["amplitude_px"]
                target = images[a][moving]
                unwarped = np.mean((target - images[b][moving]) ** 2)
                warped = np.mean((target - _warp(images[b], flow)[moving]) ** 2)
                backwards = np.mean((target - _warp(images[b], -flow)[moving]) ** 2)
                assert warped < ratio * unwarped < backwards, (gt["clip"], a, b, warped, unwarped, backwards)


def test_true_apex_has_the_largest_displacement(clean_corpus: Path) -> None:
    for gt in _ground_truths(clean_corpus):
        frames = gt["frames"]
        numbers = list(range(frames["first"], frames["last"] + 1))
        peaks = [float(np.max(np.hypot(*displacement_field(gt, frames["onset"], n)))) for n in numbers]
        assert numbers[int(np.argmax(peaks))] == frames["apex"]
        assert peaks[numbers.index(frames["apex"])] == pytest.approx(gt["amplitude_px"], rel=0.05)
        assert peaks[0] == peaks[numbers.index(frames["offset"])] == 0.0


def test_amplitude_is_drawn_for_a_224_px_face_and_rescaled(corpus: Path) -> None:
    low, high = _params()["synth"]["amplitude_px"]
    for gt in _ground_truths(corpus):
        assert low <= gt["amplitude_224_px"] <= high
        face = gt["appearance"]["face_height_px"]
        assert gt["amplitude_px"] == pytest.approx(gt["amplitude_224_px"] * face / 224)


def test_annotated_apex_error_follows_its_sd() -> None:
    wide = {
        "synth": {
            "subjects": 26,
            "clips_per_subject": 20,
            "onset_to_apex_frames": [30, 40],
            "apex_to_offset_frames": [30, 40],
        }
    }
    errors = np.array([p.apex_annotated - p.apex for p in plan_corpus(_params(wide)["synth"], STYLE)])
    assert abs(errors.mean()) < 0.6
    assert 3.5 < errors.std() < 4.5
    exact = plan_corpus(_params(wide, {"synth": {"apex_error_frames": 0.0}})["synth"], STYLE)
    assert all(p.apex_annotated == p.apex for p in exact)
    tight_params = _params({"synth": {"onset_to_apex_frames": [1, 2], "apex_to_offset_frames": [1, 2]}})
    tight = plan_corpus(tight_params["synth"], STYLE)
    assert all(p.onset < p.apex_annotated < p.offset for p in tight)


@pytest.mark.parametrize(("subjects", "clips"), [(2, 5), (3, 7), (8, 5), (11, 9), (26, 10)])
def test_every_class_spans_two_subjects_and_subjects_mix_classes(subjects: int, clips: int) -> None:
    params = _params({"synth": {"subjects": subjects, "clips_per_subject": clips}})
    plans = plan_corpus(params["synth"], STYLE)
    subjects_of = collections.defaultdict(set)
    classes_of = collections.defaultdict(set)
    for plan in plans:
        subjects_of[plan.emotion].add(plan.subject)
        classes_of[plan.subject].add(plan.emotion)
        assert plan.action_units in STYLE.combos[plan.emotion]
    assert set(STYLE.required) <= set(subjects_of)
    assert all(len(s) >= 2 for s in subjects_of.values())
    assert all(len(c) >= 3 for c in classes_of.values())
    assert all(sum(p.subject == s for p in plans) == clips for s in classes_of)


def test_class_proportions_follow_casme2() -> None:
    counts = allocate(255, STYLE)
    assert counts == dict(others=99, disgust=63, happiness=32, repression=27, surprise=25, sadness=7, fear=2)
    small = allocate(40, STYLE)
    ordered = [small[name] for name in ("others", "disgust", "happiness", "repression", "surprise")]
    assert ordered[0] > ordered[1] > ordered[2] >= ordered[3] >= ordered[4] >= 2
    tiny = allocate(9, STYLE)
    assert tiny == dict(others=2, disgust=2, happiness=2, repression=2, surprise=1, sadness=0, fear=0)


def test_mtcnn_finds_the_face_at_the_ground_truth_landmarks(corpus: Path) -> None:
    from facenet_pytorch import MTCNN
    from PIL import Image

    detector = MTCNN(keep_all=False, device="cpu")
    truths = _ground_truths(corpus)
    for gt in (truths[0], truths[-1]):
        image = _frame(corpus, gt, gt["frames"]["onset"]).astype(np.uint8)
        boxes, _, points = detector.detect(Image.fromarray(image), landmarks=True)
        truth = np.asarray(gt["appearance"]["landmarks"])
        eye_distance = np.hypot(*(truth[1] - truth[0]))
        assert boxes is not None
        found = np.asarray(points[0], dtype=np.float64)
        assert np.max(np.hypot(*(found - truth).T)) < 0.25 * eye_distance


def _rest_faces(subjects: int, neutral: bool) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Rest faces of the evidence twin's first subjects; `neutral` switches every identity draw off."""
    faces = {}
    for index in range(subjects):
        appearance = draw_appearance(rng(0, "subject", index), index, [320, 240], 150)
        if neutral:
            identity = appearance["identity"]
            identity["blend"]["weight"] = 0.0
            identity["features"] = {key: 0.0 for key in identity["features"]}
            identity["skin_tone"] = 0.0
            identity["texture"] = {**identity["texture"], "contrast": 0.0, "moles": 0}
            identity["light"]["strength"] = 0.0
        base = render_base(appearance, [320, 240])
        faces[f"sub{index + 1:02d}"] = (base.image, base.landmarks)
    return faces


def test_each_subject_has_its_own_identity_that_mtcnn_still_finds() -> None:
    from facenet_pytorch import MTCNN
    from PIL import Image

    faces = _rest_faces(8, neutral=False)
    apart = identity_distances(faces)
    alike = identity_distances(_rest_faces(8, neutral=True))
    # without identities two subjects of one photo are near copies; with them no pair is
    assert alike["min_nearest_other"] < 0.35 < 0.45 <= apart["min_nearest_other"]
    assert apart["median_nearest_other"] > alike["median_nearest_other"] + 0.1
    detector = MTCNN(keep_all=False, device="cpu")
    for image, truth in faces.values():
        boxes, _, points = detector.detect(Image.fromarray(image.astype(np.uint8)), landmarks=True)
        assert boxes is not None
        eye_distance = np.hypot(*(truth[1] - truth[0]))
        found = np.asarray(points[0], dtype=np.float64)
        assert np.max(np.hypot(*(found - truth).T)) < 0.25 * eye_distance


def test_ground_truth_records_how_far_apart_identities_are(corpus: Path) -> None:
    record = json.loads((corpus / GROUND_TRUTH_DIR / IDENTITIES).read_text())
    distance = np.asarray(record["distance"])
    assert record["subjects"] == sorted(p.name for p in (corpus / RAW_DIR).iterdir())
    assert np.allclose(distance, distance.T) and np.all(np.diag(distance) == 0)
    off = distance + np.diag([np.inf] * len(distance))
    assert list(record["nearest_other"].values()) == pytest.approx(off.min(axis=1).tolist(), abs=1e-4)
