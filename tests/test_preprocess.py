"""Face crops (one MTCNN box per clip) and GAMDSS keyframe reselection."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest
import yaml
from skimage import data

from mer import h5
from mer.errors import ConfigError, InputDataError
from mer.preprocess import faces
from mer.preprocess.keyframes import APEX_WINDOWS, COLUMNS, keyframes_table, reselect
from tests.conftest import REPO

KEYFRAMES = {
    "mode": "reselected",
    "lambda_rise": 0.1,
    "lambda_fall": 0.1,
    "apex_window": "backward",
    "spotting": {"method": "frame_difference"},
}

CROP = {
    "reference": "onset",
    "size": 64,
    "margin": 0.15,
    "align": False,
    "min_face_size": 40,
    "thresholds": [0.6, 0.7, 0.7],
    "device": "cpu",
}
REGEX = re.compile(r"img(\d+)\.png")
FRAMES = range(10, 19)  # files on disk; the sample is onset 11, apex 14, offset 17
SAMPLE = {
    "dataset": "casme2",
    "subject": "sub01",
    "clip": "EP01_01",
    "onset": 11,
    "apex": 14,
    "offset": 17,
    "frame_dir": "sub01/EP01_01",
}
CANVAS = (240, 320)  # height, width
BACKGROUND = 90


class PngFrames:
    """A frame source over PNG files, independent of mer.datasets."""

    def list_frames(self, clip_dir: Path, pattern: re.Pattern[str]) -> list[tuple[int, Path]]:
        found = [(int(m.group(1)), p) for p in Path(clip_dir).iterdir() if (m := pattern.fullmatch(p.name))]
        return sorted(found)

    def read_frame(self, path: Path, *, dataset: str, subject: str, clip: str, frame: int) -> np.ndarray:
        return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def face_canvas() -> np.ndarray:
    """The astronaut's head (about 60 × 75 px face) on a flat 320 × 240 canvas."""
    head = cv2.resize(data.astronaut()[0:300, 100:400], (200, 200), interpolation=cv2.INTER_AREA)
    canvas = np.full((*CANVAS, 3), BACKGROUND, dtype=np.uint8)
    canvas[20:220, 60:260] = head
    return canvas


def shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """`image` translated by (dx, dy) pixels (sub-pixel, bilinear, replicated border)."""
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    size = (image.shape[1], image.shape[0])
    return cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def write_clip(root: Path, images: dict[int, np.ndarray]) -> None:
    clip_dir = root / SAMPLE["frame_dir"]
    clip_dir.mkdir(parents=True, exist_ok=True)
    for number, image in images.items():
        cv2.imwrite(str(clip_dir / f"img{number}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def moving_face() -> dict[int, np.ndarray]:
    """The head drifting by (0.4, −0.3) px per frame: sub-pixel steps adding up to whole pixels."""
    canvas = face_canvas()
    return {n: shifted(canvas, 0.4 * (n - 10), -0.3 * (n - 10)) for n in FRAMES}


def crop(root: Path, out: Path, **overrides: Any) -> None:
    faces.crop_subject(pd.DataFrame([SAMPLE]), root, REGEX, {**CROP, **overrides}, out, source=PngFrames())


def test_one_box_from_the_reference_frame_crops_every_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    images = moving_face()
    write_clip(tmp_path, images)
    detected_on: list[list[int]] = []
    real_detect = faces.detect_batch

    def counting_detect(images: list[np.ndarray], frames: list[int], crop: dict[str, Any]) -> list[Any]:
        detected_on.append(list(frames))
        return real_detect(images, frames, crop)

    monkeypatch.setattr(faces, "detect_batch", counting_detect)
    crop(tmp_path, tmp_path / "sub01.h5")
    assert detected_on == [[11]]

    with h5py.File(tmp_path / "sub01.h5", "r") as f:
        assert (f.attrs["dataset"], f.attrs["subject"]) == ("casme2", "sub01")
        group = f["EP01_01"]
        attrs = h5.read_attrs(group)
        stored, numbers = group["frames"][()], group["frame_numbers"][()]
    assert numbers.tolist() == list(range(11, 18)) and numbers.dtype == np.int32
    assert stored.shape == (7, 64, 64, 3) and stored.dtype == np.uint8
    x0, y0, x1, y1 = attrs["box"].tolist()
    for frame, face in zip(numbers, stored, strict=True):
        expected = cv2.resize(images[int(frame)][y0:y1, x0:x1], (64, 64), interpolation=cv2.INTER_AREA)
        np.testing.assert_array_equal(face, expected)
    # The head occupies x 60..260, y 20..220 of the canvas; MTCNN's face box lies inside it.
    assert x1 - x0 == y1 - y0 and 60 <= x0 and x1 <= 262 and 18 <= y0 and y1 <= 222
    landmarks = attrs["landmarks"]
    assert landmarks.shape == (5, 2) and np.all((landmarks[:, 0] > x0) & (landmarks[:, 0] < x1))
    assert landmarks[0, 0] < landmarks[1, 0]  # left eye (image left) before right eye
    assert attrs["fallback"] == "none" and attrs["reference_frame"] == 11
    assert attrs["detector"] == "facenet-pytorch MTCNN 2.6.0" and attrs["probability"] > 0.9
    assert attrs["thresholds"].tolist() == [0.6, 0.7, 0.7]
    assert (attrs["min_face_size"], attrs["margin"], attrs["size"]) == (40, 0.15, 64)
    scale = 64 / (x1 - x0)
    np.testing.assert_allclose(attrs["transform"], [[scale, 0, -scale * x0], [0, scale, -scale * y0]])
    assert attrs["align"] == False and attrs["rotation_deg"] == 0.0  # noqa: E712 (numpy bool)


def test_apex_reference_detects_on_the_apex(tmp_path: Path) -> None:
    write_clip(tmp_path, moving_face())
    crop(tmp_path, tmp_path / "sub01.h5", reference="apex")
    with h5py.File(tmp_path / "sub01.h5", "r") as f:
        assert f["EP01_01"].attrs["reference_frame"] == 14


def test_blank_reference_frame_falls_back_to_a_neighbour(tmp_path: Path) -> None:
    images = moving_face()
    images[11] = np.full_like(images[11], BACKGROUND)
    write_clip(tmp_path, images)
    crop(tmp_path, tmp_path / "sub01.h5")
    with h5py.File(tmp_path / "sub01.h5", "r") as f:
        attrs = h5.read_attrs(f["EP01_01"])
    assert attrs["fallback"] == "neighbour_frame:12"
    assert attrs["reference_frame"] == 12


def two_clip_rows() -> pd.DataFrame:
    second = {**SAMPLE, "clip": "EP02_01", "frame_dir": "sub01/EP02_01"}
    return pd.DataFrame([SAMPLE, second])


def test_reference_frames_of_a_subject_are_detected_in_one_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = moving_face()
    write_clip(tmp_path, images)
    write_clip(tmp_path / "second", images)
    (tmp_path / "sub01" / "EP02_01").symlink_to(tmp_path / "second" / "sub01" / "EP01_01")
    calls: list[list[int]] = []
    real_detect = faces.detect_batch

    def counting_detect(images: list[np.ndarray], frames: list[int], crop: dict[str, Any]) -> list[Any]:
        calls.append(list(frames))
        return real_detect(images, frames, crop)

    monkeypatch.setattr(faces, "detect_batch", counting_detect)
    faces.crop_subject(two_clip_rows(), tmp_path, REGEX, CROP, tmp_path / "sub01.h5", source=PngFrames())
    assert calls == [[11, 11]]
    with h5py.File(tmp_path / "sub01.h5", "r") as f:
        assert f["EP01_01"].attrs["box"].tolist() == f["EP02_01"].attrs["box"].tolist()
        np.testing.assert_array_equal(f["EP01_01"]["frames"][()], f["EP02_01"]["frames"][()])


def test_clip_without_any_face_takes_the_previous_clips_box(tmp_path: Path) -> None:
    write_clip(tmp_path, moving_face())
    blank = {n: np.full((*CANVAS, 3), BACKGROUND, dtype=np.uint8) for n in FRAMES}
    blank[16] = face_canvas()  # a face beyond the neighbour radius (reference 11 ± 3)
    write_clip(tmp_path / "second", blank)
    (tmp_path / "sub01" / "EP02_01").symlink_to(tmp_path / "second" / "sub01" / "EP01_01")
    faces.crop_subject(two_clip_rows(), tmp_path, REGEX, CROP, tmp_path / "sub01.h5", source=PngFrames())
    with h5py.File(tmp_path / "sub01.h5", "r") as f:
        first, second = h5.read_attrs(f["EP01_01"]), h5.read_attrs(f["EP02_01"])
    assert first["fallback"] == "none"
    assert second["fallback"] == "previous_box:EP01_01"
    assert second["box"].tolist() == first["box"].tolist() and second["reference_frame"] == 11


def test_eye_alignment_levels_the_eyes_with_one_rotation(tmp_path: Path) -> None:
    canvas = face_canvas()
    tilt = cv2.getRotationMatrix2D((160.0, 120.0), 9.0, 1.0)
    tilted = cv2.warpAffine(canvas, tilt, (320, 240), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    write_clip(tmp_path, {n: shifted(tilted, 0.3 * (n - 10), 0.0) for n in FRAMES})
    crop(tmp_path, tmp_path / "plain.h5")
    crop(tmp_path, tmp_path / "aligned.h5", align=True)
    eyes_y = {}
    for name in ("plain", "aligned"):
        with h5py.File(tmp_path / f"{name}.h5", "r") as f:
            attrs = h5.read_attrs(f["EP01_01"])
        eyes = np.c_[attrs["landmarks"][:2], np.ones(2)] @ attrs["transform"].T
        eyes_y[name] = abs(eyes[1, 1] - eyes[0, 1])
        assert attrs["align"] == (name == "aligned")
    assert eyes_y["plain"] > 1.0 and eyes_y["aligned"] < 0.01
    assert attrs["rotation_deg"] == pytest.approx(-6.0, abs=1.5)  # −9° tilt + the photo's own ≈ +3°


def test_no_face_anywhere_names_the_sample(tmp_path: Path) -> None:
    write_clip(tmp_path, {n: np.full((*CANVAS, 3), BACKGROUND, dtype=np.uint8) for n in FRAMES})
    with pytest.raises(InputDataError) as info:
        crop(tmp_path, tmp_path / "sub01.h5")
    error = info.value
    assert (error.dataset, error.subject, error.clip, error.frame) == ("casme2", "sub01", "EP01_01", 11)
    assert "dataset=casme2 subject=sub01 clip=EP01_01 frame=11" in str(error)
    assert not (tmp_path / "sub01.h5").exists()


def test_missing_keyframe_file_names_the_frame(tmp_path: Path) -> None:
    images = moving_face()
    del images[14]
    write_clip(tmp_path, images)
    with pytest.raises(InputDataError) as info:
        crop(tmp_path, tmp_path / "sub01.h5")
    assert (info.value.clip, info.value.frame) == ("EP01_01", 14)


def test_several_faces_take_the_largest() -> None:
    head = cv2.resize(data.astronaut()[0:300, 100:400], (200, 200), interpolation=cv2.INTER_AREA)
    canvas = np.full((240, 400, 3), BACKGROUND, dtype=np.uint8)
    canvas[20:220, 10:210] = head
    canvas[40:190, 230:380] = cv2.resize(head, (150, 150), interpolation=cv2.INTER_AREA)
    detection = faces.detect(canvas, 0, CROP)
    assert detection is not None and detection.faces == 2
    assert detection.box[2] < 210  # the big head on the left


def test_square_box_margin_and_image_bounds() -> None:
    # 40 × 60 box centred at (50, 50), margin 0.25 → side 90, centred.
    assert faces.square_box(np.array([30.0, 20.0, 70.0, 80.0]), 0.25, 200, 200) == (5, 5, 95, 95)
    # Same box near the top-left corner: shifted inside, not padded.
    assert faces.square_box(np.array([0.0, 0.0, 40.0, 60.0]), 0.25, 200, 200) == (0, 0, 90, 90)
    # Larger than the image: shrunk to the shorter side.
    assert faces.square_box(np.array([0.0, 0.0, 100.0, 100.0]), 0.5, 120, 80) == (10, 0, 90, 80)


def test_face_file_is_byte_identical_on_rerun(tmp_path: Path) -> None:
    write_clip(tmp_path, moving_face())
    crop(tmp_path, tmp_path / "a.h5")
    crop(tmp_path, tmp_path / "b.h5")
    first = (tmp_path / "a.h5").read_bytes()
    assert first == (tmp_path / "b.h5").read_bytes()
    crop(tmp_path, tmp_path / "a.h5")
    assert (tmp_path / "a.h5").read_bytes() == first


# --- keyframes -----------------------------------------------------------------------------


def brute_force(
    frames: np.ndarray, numbers: np.ndarray, onset: int, apex: int, offset: int, lr: float, lf: float, window: str
) -> tuple[int, int, int]:
    """Algorithm 1 with plain loops over every candidate pair (reference for `reselect`).

    `window`: backward = apex − R … apex (Algorithm 1), symmetric = apex − R … apex + R (Eq. 2).
    """
    present = {int(n): i for i, n in enumerate(numbers)}

    def dist(a: int, b: int) -> float:
        fa = frames[present[a]].astype(np.float64).ravel()
        fb = frames[present[b]].astype(np.float64).ravel()
        return float(np.sqrt(sum((x - y) ** 2 for x, y in zip(fa, fb, strict=True))))

    r = int(lr * (apex - onset))
    last = {"backward": apex, "symmetric": apex + r}[window]
    best = None
    for o in range(onset, onset + r + 1):
        for a in range(apex - r, last + 1):
            if o in present and a in present and o < a and (a < offset or a == apex):
                key = (-dist(o, a), abs(o - onset) + abs(a - apex), o, a)
                best = key if best is None or key < best else best
    new_onset, new_apex = (onset, apex) if best is None else best[2:]
    rf = int(lf * (offset - apex))
    best_off = None
    for f in range(offset - rf, offset + rf + 1):
        if f in present and f > new_apex:
            key = (-dist(new_apex, f), abs(f - offset), f)
            best_off = key if best_off is None or key < best_off else best_off
    new_offset = max(offset, new_apex) if best_off is None else best_off[2]
    return new_onset, new_apex, new_offset


@pytest.mark.parametrize("window", ["backward", "symmetric"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_reselect_matches_brute_force(dtype: type, window: str) -> None:
    rng = np.random.default_rng(7)
    moved = 0
    for _ in range(60):
        start = int(rng.integers(0, 50))
        onset = start + int(rng.integers(0, 3))
        apex = onset + int(rng.integers(0, 30))
        offset = apex + int(rng.integers(0, 30))
        numbers = np.arange(start, offset + int(rng.integers(1, 4)))
        shape = (len(numbers), 3, 4, 2)
        values = rng.integers(0, 256, size=shape) if dtype == np.uint8 else rng.uniform(0, 255, shape)
        frames = values.astype(dtype)
        lr, lf = float(rng.uniform(0, 0.5)), float(rng.uniform(0, 0.5))
        result = reselect(frames, numbers, onset, apex, offset, lr, lf, window)
        expected = brute_force(frames, numbers, onset, apex, offset, lr, lf, window)
        assert (result.onset, result.apex, result.offset) == expected
        f = {int(n): frame.astype(np.float64) for n, frame in zip(numbers, frames, strict=True)}
        rise, fall = f[result.apex] - f[result.onset], f[result.offset] - f[result.apex]
        assert result.rise_diff_reselected == pytest.approx(np.linalg.norm(rise), rel=1e-12)
        assert result.fall_diff_reselected == pytest.approx(np.linalg.norm(fall), rel=1e-12)
        assert result.rise_diff_annotated == pytest.approx(np.linalg.norm(f[apex] - f[onset]), rel=1e-12)
        assert result.rise_diff_reselected >= result.rise_diff_annotated
        moved += (result.onset, result.apex) != (onset, apex)
    assert moved > 10  # the windows were non-trivial


@pytest.mark.parametrize("window", ["backward", "symmetric"])
@pytest.mark.parametrize("shift", [-6, -3, -1, 2, 5])
def test_reselect_moves_a_misplaced_apex_towards_a_clean_peak(shift: int, window: str) -> None:
    # Raised-cosine expression (0 at onset 4 and offset 44, 1 at apex 24) on a fixed pattern, no nuisance:
    # ‖f_a − f_o‖ = |I(a) − I(o)|·‖pattern‖, so Eq. 2–4 pick the onset and the candidate nearest the truth.
    # The backward window only reaches a truth before the annotation (shift > 0).
    numbers = np.arange(48)
    level = np.where(
        numbers <= 24, 0.5 - 0.5 * np.cos(np.pi * (numbers - 4) / 20), 0.5 + 0.5 * np.cos(np.pi * (numbers - 24) / 20)
    )
    level[(numbers <= 4) | (numbers >= 44)] = 0.0
    pattern = np.random.default_rng(5).normal(0, 20, size=(6, 6, 3))
    frames = 120 + level[:, None, None, None] * pattern
    for lam in (0.05, 0.1, 0.2, 0.4):
        result = reselect(frames, numbers, 4, 24 + shift, 44, lam, lam, window)
        step = min(result.r_rise, abs(shift)) if window == "symmetric" or shift > 0 else 0
        assert result.onset == 4
        assert result.apex == 24 + shift - int(np.sign(shift)) * step


@pytest.mark.parametrize("window", ["backward", "symmetric"])
def test_reselect_with_gaps_in_frame_numbers(window: str) -> None:
    rng = np.random.default_rng(3)
    numbers = np.array([0, 1, 2, 4, 5, 7, 8, 9, 10, 12, 13, 14, 15, 16, 18, 19, 20])
    frames = rng.integers(0, 256, size=(len(numbers), 5, 5)).astype(np.uint8)
    result = reselect(frames, numbers, 1, 10, 19, 0.5, 0.5, window)
    assert (result.onset, result.apex, result.offset) == brute_force(frames, numbers, 1, 10, 19, 0.5, 0.5, window)


def test_reselect_does_not_wrap_uint8() -> None:
    # Onset 200; annotated apex 4, backward apex candidates 2, 3, 4 with values 100, 0, 100
    # (true differences 100, 200, 100). Subtracting uint8 wraps 0 − 200 to 56 and 100 − 200 to
    # 156, which would pick a value-100 frame.
    values = {0: 200, 1: 200, 2: 100, 3: 0, 4: 100, 5: 200, 6: 200}
    numbers = np.array(sorted(values))
    frames = np.array([np.full((4, 4), values[n], dtype=np.uint8) for n in numbers])
    wrapped = {a: float(np.linalg.norm((frames[a] - frames[0]).astype(np.float64))) for a in (2, 3)}
    assert wrapped[2] > wrapped[3]  # the uint8 shortcut really prefers the wrong frame
    result = reselect(frames, numbers, 0, 4, 6, 0.5, 0.0)
    assert (result.onset, result.apex) == (0, 3)
    assert result.rise_diff_reselected == pytest.approx(200.0 * 4)
    assert result.rise_diff_annotated == pytest.approx(100.0 * 4)


def test_reselect_ties_keep_the_annotation() -> None:
    frames = np.zeros((30, 4, 4), dtype=np.uint8)
    result = reselect(frames, np.arange(30), 2, 15, 28, 0.3, 0.3)
    assert (result.onset, result.apex, result.offset) == (2, 15, 28)
    assert (result.r_rise, result.r_fall) == (3, 3)


def test_reselect_degenerate_onset_equals_apex() -> None:
    frames = np.arange(10, dtype=np.float64).reshape(10, 1) * np.ones((10, 3))
    result = reselect(frames, np.arange(10), 4, 4, 4, 0.1, 0.1)
    assert (result.onset, result.apex, result.offset) == (4, 4, 4)
    assert result.rise_diff_reselected == 0.0


def test_reselect_missing_keyframe_names_the_frame() -> None:
    with pytest.raises(InputDataError) as info:
        reselect(np.zeros((3, 2, 2)), np.array([0, 1, 3]), 0, 2, 3, 0.1, 0.1)
    assert info.value.frame == 2


def write_faces(path: Path, subject: str, clips: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    with h5.open_for_write(path) as f:
        f.attrs["dataset"], f.attrs["subject"] = "casme2", subject
        for clip, (numbers, frames) in clips.items():
            group = h5.create_group(f, clip)
            h5.create_dataset(group, "frames", frames)
            h5.create_dataset(group, "frame_numbers", numbers.astype(np.int32))


def test_keyframes_table_columns_modes_and_order(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    manifest = pd.DataFrame(
        [("sub01", "EP01", 3, 23, 40), ("sub01", "EP02", 0, 10, 20), ("sub02", "EP01", 5, 25, 45)],
        columns=["subject", "clip", "onset", "apex", "offset"],
    ).assign(dataset="casme2", frame_dir="x")
    for subject, rows in manifest.groupby("subject"):
        clips = {}
        for row in rows.itertuples():
            numbers = np.arange(row.onset, row.offset + 1)
            clips[row.clip] = (numbers, rng.integers(0, 256, size=(len(numbers), 8, 8, 3)).astype(np.uint8))
        write_faces(tmp_path / f"{subject}.h5", str(subject), clips)

    params = {**KEYFRAMES, "lambda_rise": 0.2, "lambda_fall": 0.2}
    table = keyframes_table(manifest, tmp_path, params)
    assert list(table.columns) == list(COLUMNS)
    assert table[["subject", "clip"]].values.tolist() == [["sub01", "EP01"], ["sub01", "EP02"], ["sub02", "EP01"]]
    assert (table["onset"] == table["onset_reselected"]).all() and (table["mode"] == "reselected").all()
    assert (table["onset_annotated"] == manifest["onset"]).all()
    assert (table["rise_diff_reselected"] >= table["rise_diff_annotated"]).all()

    annotated = keyframes_table(manifest, tmp_path, {**params, "mode": "annotated"})
    assert (annotated[["onset", "apex", "offset"]].values == manifest[["onset", "apex", "offset"]].values).all()
    assert (annotated["apex_reselected"] == table["apex_reselected"]).all()

    spotted = keyframes_table(manifest, tmp_path, {**params, "mode": "spotted"})
    assert (spotted["mode"] == "spotted").all() and (spotted["spotting"] == "frame_difference").all()
    assert (spotted["apex"] == spotted["apex_spotted"]).all()
    assert (spotted[["onset", "offset"]].values == manifest[["onset", "offset"]].values).all()
    assert ((spotted["apex"] > spotted["onset"]) & (spotted["apex"] < spotted["offset"])).all()
    assert (spotted["apex_spotted"] == table["apex_spotted"]).all()


def test_reselected_apex_stays_before_the_annotated_offset() -> None:
    # Motion grows to the last stored frame: without the bound the symmetric window's apex would
    # land on the offset. The backward window never passes the annotated apex.
    frames = np.arange(21, dtype=np.float64)[:, None] * np.ones((21, 4))
    result = reselect(frames, np.arange(21), 0, 18, 20, 0.2, 0.5, "symmetric")
    assert result.apex == 19 and result.offset == 20
    assert result.fall_diff_reselected > 0
    assert reselect(frames, np.arange(21), 0, 18, 20, 0.2, 0.5, "backward").apex == 18


def late_peak_clip() -> tuple[np.ndarray, np.ndarray]:
    """Frames 0–20 of a fixed pattern scaled by a triangle: 0 up to frame 4, peak 1 at frame 12, 0 at 20.

    ‖f_a − f_o‖ = |I(a) − I(o)|·‖pattern‖, so among the candidates the frame nearest 12 wins.
    """
    numbers = np.arange(21)
    level = np.clip(np.minimum((numbers - 4) / 8, (20 - numbers) / 8), 0.0, None)
    pattern = np.random.default_rng(9).normal(0, 30, size=(5, 5, 3))
    return 100 + level[:, None, None, None] * pattern, numbers


def test_backward_and_symmetric_windows_pick_what_they_define() -> None:
    # Annotated onset 0, apex 10 (two frames before the true peak 12), offset 20; λ = 0.3: R_rise = 3.
    frames, numbers = late_peak_clip()
    backward = reselect(frames, numbers, 0, 10, 20, 0.3, 0.3, "backward")
    symmetric = reselect(frames, numbers, 0, 10, 20, 0.3, 0.3, "symmetric")
    assert backward.r_rise == symmetric.r_rise == 3
    assert backward.apex == 10  # candidates 7 … 10 rise towards the annotation: it stays
    assert symmetric.apex == 12  # candidates 7 … 13 hold the peak
    assert backward.onset == symmetric.onset == 0  # onsets 0 … 3 all show level 0: the annotation wins the tie
    # Annotated after the peak: both windows reach back to it.
    assert reselect(frames, numbers, 0, 14, 20, 0.3, 0.3, "backward").apex == 12
    assert reselect(frames, numbers, 0, 14, 20, 0.3, 0.3, "symmetric").apex == 12


def test_default_apex_window_is_algorithm_1s_backward_search() -> None:
    frames, numbers = late_peak_clip()
    assert inspect.signature(reselect).parameters["apex_window"].default == "backward"
    assert reselect(frames, numbers, 0, 10, 20, 0.3, 0.3) == reselect(frames, numbers, 0, 10, 20, 0.3, 0.3, "backward")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    assert params["keyframes"]["apex_window"] == "backward"


def test_unknown_apex_window_is_a_config_error_naming_the_key() -> None:
    frames, numbers = late_peak_clip()
    with pytest.raises(ConfigError, match=r"keyframes\.apex_window .*'forward'"):
        reselect(frames, numbers, 0, 10, 20, 0.3, 0.3, "forward")


def test_params_schema_apex_windows_match_the_code() -> None:
    schema = yaml.safe_load((REPO / "mer/schemas/params.schema.yaml").read_text())
    entry = schema["properties"]["keyframes"]
    assert entry["properties"]["apex_window"]["enum"] == list(APEX_WINDOWS)
    assert "apex_window" in entry["required"]


def test_keyframes_stages_track_the_whole_keyframes_section() -> None:
    # Snakemake's params trigger and DVC's params list see every keyframes key (apex_window included).
    rule = (REPO / "workflow/rules/preprocess.smk").read_text().split("rule keyframes:")[1].split("\nrule ")[0]
    assert 'keyframes=config["keyframes"]' in rule
    stage = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]["preprocess"]
    assert "keyframes" in stage["params"] and "mer/preprocess" in stage["deps"]


def test_keyframes_table_reads_the_apex_window(tmp_path: Path) -> None:
    frames, numbers = late_peak_clip()
    write_faces(tmp_path / "sub01.h5", "sub01", {"EP01": (numbers, np.round(frames).astype(np.uint8))})
    sample = {"dataset": "casme2", "subject": "sub01", "clip": "EP01", "onset": 0, "apex": 10, "offset": 20}
    manifest = pd.DataFrame([sample])
    params = {**KEYFRAMES, "lambda_rise": 0.3}
    assert keyframes_table(manifest, tmp_path, params)["apex_reselected"].tolist() == [10]
    symmetric = keyframes_table(manifest, tmp_path, {**params, "apex_window": "symmetric"})
    assert symmetric["apex_reselected"].tolist() == [12]


def test_keyframes_table_missing_frame_names_the_sample(tmp_path: Path) -> None:
    numbers = np.array([0, 1, 2, 4, 5])
    write_faces(tmp_path / "sub01.h5", "sub01", {"EP01": (numbers, np.zeros((5, 4, 4, 3), dtype=np.uint8))})
    manifest = pd.DataFrame([{"dataset": "casme2", "subject": "sub01", "clip": "EP01", "onset": 0, "apex": 3, "offset": 5}])
    with pytest.raises(InputDataError) as info:
        keyframes_table(manifest, tmp_path, KEYFRAMES)
    error = info.value
    assert (error.dataset, error.subject, error.clip, error.frame) == ("casme2", "sub01", "EP01", 3)
    missing_clip = manifest.assign(clip="EP09")
    with pytest.raises(InputDataError, match="clip=EP09"):
        keyframes_table(missing_clip, tmp_path, KEYFRAMES)
