"""mer.datasets: registry, label schemes, validation and the CASME II manifest.

Each test builds a tiny CASME II tree in tmp_path: an openpyxl coding sheet with the real
column layout (blank columns 2 and 6) and a few 8x8 JPEG frames written by OpenCV.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import openpyxl
import pandas as pd
import pytest

from mer import datasets
from mer.config import DatasetSpec
from mer.datasets import annotation, schemes
from mer.datasets.frames import list_frames, read_frame
from mer.datasets.validation import gaps
from mer.errors import ConfigError, InputDataError

HEADER = [
    "Subject",
    "Filename",
    None,
    "OnsetFrame",
    "ApexFrame",
    "OffsetFrame",
    None,
    "Action Units",
    "Estimated Emotion",
]
SYNTHETIC_SHEET = "CASME2-coding-synthetic.xlsx"
FRAMES = "CASME2_RAW_selected"

# (subject, clip, onset, apex, offset, action units, emotion), deliberately out of order.
GOOD_ROWS = [
    (10, "EP01_01", 3, 3, 5, None, "Disgust"),
    (2, "EP02_01f", 5, 6, 7, "R14", "happy"),
    (1, "EP03_02", 1, 3, 4, "4+10", " Others "),
    (2, "EP04_01", 2, 3, 4, 1, "sadness"),
    (1, "EP02_01f", 8, 9, 11, 12, "happiness"),
]


def write_sheet(path: Path, rows: list[tuple]) -> None:
    """A coding workbook: data on the first sheet, a decoy second sheet."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(HEADER)
    for subject, clip, onset, apex, offset, aus, emotion in rows:
        sheet.append([subject, clip, None, onset, apex, offset, None, aus, emotion])
    book.create_sheet("Sheet2").append(["Subject", "not", "the", "data"])
    book.save(path)


def write_frame(path: Path, value: int = 128) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((8, 8, 3), value, np.uint8))


def make_corpus(root: Path, rows: list[tuple] = GOOD_ROWS, sheet: str = SYNTHETIC_SHEET) -> DatasetSpec:
    """Sheet plus frames onset-1..offset+1 for every row (like the synthetic twin's lead frames)."""
    root.mkdir(parents=True, exist_ok=True)
    write_sheet(root / sheet, rows)
    for subject, clip, onset, _, offset, _, _ in rows:
        for number in range(max(onset - 1, 1), offset + 2):
            write_frame(root / FRAMES / f"sub{subject:02d}" / clip / f"img{number}.jpg")
    return spec_for(root)


def spec_for(root: Path, annotation_path: Path | None = None, scheme: str = "casme2_5class") -> DatasetSpec:
    return DatasetSpec(name="casme2", root=root, annotation=annotation_path, scheme=scheme, synthetic=False)


def with_row(index: int, **changes: object) -> list[tuple]:
    """GOOD_ROWS with fields of one row replaced."""
    fields = ["subject", "clip", "onset", "apex", "offset", "aus", "emotion"]
    rows = [list(row) for row in GOOD_ROWS]
    for key, value in changes.items():
        rows[index][fields.index(key)] = value
    return [tuple(row) for row in rows]


@pytest.fixture
def corpus(tmp_path: Path) -> DatasetSpec:
    return make_corpus(tmp_path / "casme2")


# --- registry and schemes -------------------------------------------------------------


def test_registry_knows_casme2_and_lists_names_for_unknown() -> None:
    info = datasets.get("casme2")
    assert (info.display_name, info.fps) == ("CASME II", 200)
    assert info.frame_regex.fullmatch("img46.jpg").group(1) == "46"
    assert info.frame_regex.fullmatch("reg_img46.jpg").group(1) == "46"
    assert info.frame_regex.fullmatch("img46.png") is None
    with pytest.raises(ConfigError, match="unknown dataset 'nope'; known datasets: 4dme, casme, casme2, casme3_a"):
        datasets.get("nope")


def test_registering_a_name_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        datasets.registry.register(datasets.get("casme2"))


def test_casme2_5class_scheme_order_and_exclusions() -> None:
    scheme = schemes.get("casme2_5class")
    assert scheme.classes == ("happiness", "disgust", "repression", "surprise", "others")
    assert scheme.excluded == ("sadness", "fear")
    assert scheme.label_of("sadness") is None
    with pytest.raises(ConfigError, match="known schemes: .*casme2_5class"):
        schemes.get("nope")


def test_scheme_must_belong_to_the_dataset(corpus: DatasetSpec) -> None:
    with pytest.raises(ConfigError, match=r"datasets\.casme2\.scheme: 'megc_3class'"):
        datasets.build_manifest(dataclasses.replace(corpus, scheme="megc_3class"))


def test_labels_normalised_through_alias_table() -> None:
    info = datasets.get("casme2")
    assert info.normalise_emotion(" Others ") == "others"
    assert info.normalise_emotion("HAPPY") == "happiness"
    assert info.normalise_emotion("Repression") == "repression"
    assert info.normalise_emotion("contempt") is None
    assert info.normalise_emotion(float("nan")) is None


# --- frames ---------------------------------------------------------------------------


def test_list_frames_sorts_numerically_and_ignores_other_files(tmp_path: Path) -> None:
    for name in ["img10.jpg", "img9.jpg", "img100.jpg", "img1.jpg"]:
        write_frame(tmp_path / name)
    (tmp_path / "notes.txt").write_text("x")
    write_frame(tmp_path / "img2.png")
    frames = list_frames(tmp_path, datasets.get("casme2").frame_regex)
    assert [number for number, _ in frames] == [1, 9, 10, 100]
    assert [path.name for _, path in frames] == ["img1.jpg", "img9.jpg", "img10.jpg", "img100.jpg"]


def test_read_frame_returns_rgb_and_replicates_grey(tmp_path: Path) -> None:
    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 0] = 255  # blue in OpenCV's BGR order
    cv2.imwrite(str(tmp_path / "colour.png"), bgr)
    cv2.imwrite(str(tmp_path / "grey.png"), np.arange(24, dtype=np.uint8).reshape(4, 6))
    where = {"dataset": "casme2", "subject": "sub01", "clip": "EP02_01f", "frame": 1}
    colour = read_frame(tmp_path / "colour.png", **where)
    assert colour.shape == (4, 6, 3) and colour.dtype == np.uint8
    assert colour[0, 0].tolist() == [0, 0, 255]
    grey = read_frame(tmp_path / "grey.png", **where)
    assert grey.shape == (4, 6, 3)
    assert np.array_equal(grey[..., 0], grey[..., 2]) and grey[0, 5, 1] == 5


@pytest.mark.parametrize("content", [b"not a jpeg", None], ids=["unreadable", "missing"])
def test_read_frame_names_the_frame_when_it_fails(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "img9.jpg"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(InputDataError) as caught:
        read_frame(path, dataset="casme2", subject="sub01", clip="EP02_01f", frame=9)
    error = caught.value
    assert (error.dataset, error.subject, error.clip, error.frame) == ("casme2", "sub01", "EP02_01f", 9)
    assert "dataset=casme2 subject=sub01 clip=EP02_01f frame=9" in str(error)


# --- manifest -------------------------------------------------------------------------


def test_good_tree_gives_the_expected_manifest(corpus: DatasetSpec) -> None:
    frame, meta = datasets.build_manifest(corpus)
    assert tuple(frame.columns) == datasets.MANIFEST_COLUMNS
    expected = [
        ("casme2", "sub01", "EP02_01f", 8, 9, 11, "happiness", "happiness", 0, "12", f"{FRAMES}/sub01/EP02_01f"),
        ("casme2", "sub01", "EP03_02", 1, 3, 4, "others", "others", 4, "4+10", f"{FRAMES}/sub01/EP03_02"),
        ("casme2", "sub02", "EP02_01f", 5, 6, 7, "happiness", "happiness", 0, "R14", f"{FRAMES}/sub02/EP02_01f"),
        ("casme2", "sub10", "EP01_01", 3, 3, 5, "disgust", "disgust", 1, "", f"{FRAMES}/sub10/EP01_01"),
    ]
    assert [tuple(row) for row in frame.itertuples(index=False)] == expected
    assert meta["annotation_file"] == SYNTHETIC_SHEET
    assert (meta["annotation_version"], meta["annotation_status"]) == ("synthetic", "synthetic")
    assert re.fullmatch(r"[0-9a-f]{64}", meta["annotation_sha256"])
    assert meta["scheme"] == "casme2_5class"
    assert meta["classes"] == ["happiness", "disgust", "repression", "surprise", "others"]
    assert meta["counts"] == {"happiness": 2, "disgust": 1, "repression": 0, "surprise": 0, "others": 1}
    assert meta["excluded"] == {"fear": 0, "sadness": 1}
    assert (meta["rows"], meta["subjects"], meta["frame_folder"]) == (4, 3, FRAMES)


def test_manifest_bytes_identical_on_rewrite_and_round_trip(corpus: DatasetSpec, tmp_path: Path) -> None:
    first = tmp_path / "a" / "manifest.csv"
    second = tmp_path / "b" / "manifest.csv"
    datasets.write_manifest(*datasets.build_manifest(corpus), first)
    datasets.write_manifest(*datasets.build_manifest(corpus), second)
    datasets.write_manifest(*datasets.build_manifest(corpus), first)
    assert first.read_bytes() == second.read_bytes()
    assert first.with_suffix(".json").read_bytes() == second.with_suffix(".json").read_bytes()
    assert sorted(p.name for p in first.parent.iterdir()) == ["manifest.csv", "manifest.json"]

    frame, _ = datasets.build_manifest(corpus)
    read = datasets.read_manifest(first)
    for column in read.columns:
        expected_int = column in ("onset", "apex", "offset", "label_index")
        assert (read[column].dtype == np.int64) == expected_int, column
        assert expected_int or pd.api.types.is_string_dtype(read[column]), column
    assert read.values.tolist() == frame.values.tolist()


def test_write_manifest_refuses_other_columns(corpus: DatasetSpec, tmp_path: Path) -> None:
    frame, meta = datasets.build_manifest(corpus)
    with pytest.raises(ValueError, match="manifest columns"):
        datasets.write_manifest(frame.drop(columns="frame_dir"), meta, tmp_path / "manifest.csv")
    assert not (tmp_path / "manifest.csv").exists()


def test_read_manifest_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="run `mer manifest` first"):
        datasets.read_manifest(tmp_path / "manifest.csv")


def test_list_subjects_from_annotation_only(tmp_path: Path) -> None:
    rows = [*GOOD_ROWS, (3, "EP05_01", 1, 2, 3, "4", "fear")]
    spec = make_corpus(tmp_path / "casme2", rows)
    shutil.rmtree(tmp_path / "casme2" / FRAMES)
    assert datasets.list_subjects(spec) == ["sub01", "sub02", "sub10"]  # sub03 has only 'fear'


# --- frame folders --------------------------------------------------------------------


def test_cropped_release_and_bare_root_layouts(tmp_path: Path) -> None:
    rows = [(1, "EP02_01f", 1, 2, 3, "12", "happiness")]
    cropped = tmp_path / "cropped"
    bare = tmp_path / "bare"
    for root in (cropped, bare):
        root.mkdir()
        write_sheet(root / SYNTHETIC_SHEET, rows)
    for number in (1, 2, 3):
        write_frame(cropped / "Cropped" / "sub01" / "EP02_01f" / f"reg_img{number}.jpg")
        write_frame(bare / "sub01" / "EP02_01f" / f"img{number}.jpg")
    assert datasets.build_manifest(spec_for(cropped))[0]["frame_dir"].tolist() == ["Cropped/sub01/EP02_01f"]
    assert datasets.build_manifest(spec_for(bare))[0]["frame_dir"].tolist() == ["sub01/EP02_01f"]


def test_no_frame_folder_is_one_problem(corpus: DatasetSpec) -> None:
    shutil.rmtree(corpus.root / FRAMES)
    problems = datasets.validate(corpus)
    assert len(problems) == 1 and "no frame folder" in str(problems[0])


# --- validation -----------------------------------------------------------------------


def remove_frame(spec: DatasetSpec) -> None:
    (spec.root / FRAMES / "sub01" / "EP02_01f" / "img10.jpg").unlink()


def remove_clip(spec: DatasetSpec) -> None:
    shutil.rmtree(spec.root / FRAMES / "sub02" / "EP02_01f")


def rewrite(rows: list[tuple]):
    return lambda spec: write_sheet(spec.root / SYNTHETIC_SHEET, rows)


CORRUPTIONS = {
    "missing frame": (remove_frame, "subject=sub01 clip=EP02_01f frame=10", "1 of 4 frames onset..offset missing"),
    "missing clip folder": (remove_clip, "subject=sub02 clip=EP02_01f frame=5-7", "clip folder missing"),
    "apex slash": (
        rewrite(with_row(1, apex="/")),
        "subject=sub02 clip=EP02_01f frame=/",
        "apex is not a frame number: '/'",
    ),
    "unknown label": (
        rewrite(with_row(0, emotion="contempt")),
        "subject=sub10 clip=EP01_01",
        "unknown emotion label 'contempt'",
    ),
    "offset zero": (rewrite(with_row(2, offset=0)), "subject=sub01 clip=EP03_02 frame=0", "offset is 0"),
    "onset after apex": (
        rewrite(with_row(4, onset=10)),
        "subject=sub01 clip=EP02_01f frame=9",
        "apex 9 is outside onset..offset 10..11",
    ),
    "onset after offset": (
        rewrite(with_row(4, onset=12)),
        "subject=sub01 clip=EP02_01f frame=12",
        "onset 12 is after offset 11",
    ),
    "duplicate key": (
        rewrite([*GOOD_ROWS, (1, "EP03_02", 1, 2, 4, "4", "others")]),
        "subject=sub01 clip=EP03_02",
        "duplicate sample: annotation rows 4, 7",
    ),
    "clip name with a slash": (
        rewrite(with_row(0, clip="../EP01_01")),
        "subject=sub10 clip=../EP01_01",
        "the clip name '../EP01_01' is not",
    ),
    "bad subject id": (rewrite(with_row(0, subject="x")), "subject=x clip=EP01_01", "subject id 'x' is not a positive"),
}


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_each_corruption_fails_naming_the_sample(corpus: DatasetSpec, name: str) -> None:
    corrupt, where, what = CORRUPTIONS[name]
    corrupt(corpus)
    with pytest.raises(datasets.DatasetValidationError) as caught:
        datasets.build_manifest(corpus)
    assert len(caught.value.problems) == 1, caught.value
    message = str(caught.value)
    assert f"[dataset=casme2 {where}] {what}" in message, message
    assert [str(p) for p in datasets.validate(corpus)] == [str(p) for p in caught.value.problems]


def test_two_files_for_one_frame_number(corpus: DatasetSpec) -> None:
    write_frame(corpus.root / FRAMES / "sub10" / "EP01_01" / "img04.jpg")
    problems = [str(p) for p in datasets.validate(corpus)]
    assert problems == [
        "[dataset=casme2 subject=sub10 clip=EP01_01 frame=4] "
        "two files for one frame: img04.jpg, img4.jpg (annotation row 2)"
    ]


def test_all_problems_are_reported_at_once(corpus: DatasetSpec) -> None:
    rows = with_row(1, apex="/")
    rows = [rows[0][:6] + ("contempt",), *rows[1:], (1, "EP03_02", 1, 2, 4, "4", "others")]
    rewrite(rows)(corpus)
    remove_frame(corpus)
    with pytest.raises(datasets.DatasetValidationError) as caught:
        datasets.build_manifest(corpus)
    message = str(caught.value)
    assert message.startswith("[dataset=casme2] 4 problem(s) in CASME2-coding-synthetic.xlsx")
    for fragment in [
        "subject=sub10 clip=EP01_01] unknown emotion label 'contempt'",
        "subject=sub02 clip=EP02_01f frame=/] apex is not a frame number",
        "subject=sub01 clip=EP02_01f frame=10] 1 of 4 frames",
        "subject=sub01 clip=EP03_02] duplicate sample",
    ]:
        assert fragment in message, message
    assert len(caught.value.problems) == 4


def test_empty_sheet_is_a_problem(corpus: DatasetSpec) -> None:
    rewrite([])(corpus)
    assert [str(p) for p in datasets.validate(corpus)] == [f"[dataset=casme2] {SYNTHETIC_SHEET} has no sample rows"]


def test_gap_ranges() -> None:
    assert gaps([9, 3, 4, 5, 12, 11]) == "3-5, 9, 11-12"


# --- annotation file and version ------------------------------------------------------


def test_known_version_by_name_and_unknown_version_warns(tmp_path: Path) -> None:
    spec = make_corpus(tmp_path / "known", sheet="CASME2-coding-20140508.xlsx")
    with warnings.catch_warnings():
        warnings.simplefilter("error", datasets.UnknownAnnotationWarning)
        meta = datasets.build_manifest(spec)[1]
    assert (meta["annotation_version"], meta["annotation_status"]) == ("20140508", "known")

    spec = make_corpus(tmp_path / "private", sheet="CASME2-coding-20241216.xlsx")
    with pytest.warns(datasets.UnknownAnnotationWarning, match="CASME2-coding-20241216.xlsx"):
        meta = datasets.build_manifest(spec)[1]
    assert (meta["annotation_version"], meta["annotation_status"]) == (None, "unknown")


def test_pinned_digest_wins_over_name(tmp_path: Path) -> None:
    path = tmp_path / "CASME2-coding-pinned.xlsx"
    write_sheet(path, GOOD_ROWS)
    digest = annotation.sha256(path)
    pinned = datasets.AnnotationVersion("pinned", "CASME2-coding-pinned.xlsx", sha256=digest)
    info = dataclasses.replace(datasets.get("casme2"), annotation_versions=(pinned,))
    renamed = path.rename(tmp_path / "copy.xlsx")
    assert annotation.identify(info, renamed).status == "known"
    wrong = dataclasses.replace(pinned, sha256="0" * 64)
    info = dataclasses.replace(info, annotation_versions=(wrong,))
    renamed.rename(path)
    with pytest.warns(datasets.UnknownAnnotationWarning, match="named like version pinned but its SHA-256 differs"):
        assert annotation.identify(info, path).status == "unknown"


def test_several_annotation_files_must_be_chosen_explicitly(corpus: DatasetSpec) -> None:
    write_sheet(corpus.root / "CASME2-coding-20190701.xlsx", GOOD_ROWS)
    with pytest.raises(InputDataError, match="several annotation files.*CASME2-coding-20190701.xlsx"):
        datasets.build_manifest(corpus)
    chosen = spec_for(corpus.root, Path("CASME2-coding-20190701.xlsx"))
    assert datasets.build_manifest(chosen)[1]["annotation_version"] == "20190701"


def test_missing_root_and_annotation_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match="dataset root is not a folder"):
        datasets.build_manifest(spec_for(tmp_path / "absent"))
    with pytest.raises(InputDataError, match=r"no annotation file matching CASME2-coding-\*\.xlsx"):
        datasets.list_subjects(spec_for(tmp_path))


def test_wrong_sheet_layout_is_refused(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.append(
        ["Subject", "Filename", "OnsetFrame", "ApexFrame", "OffsetFrame", "Action Units", "Estimated Emotion", "x", "y"]
    )
    book.save(tmp_path / SYNTHETIC_SHEET)
    with pytest.raises(InputDataError, match="unexpected CASME II coding sheet headers"):
        datasets.list_subjects(spec_for(tmp_path))
    (tmp_path / SYNTHETIC_SHEET).write_bytes(b"not a workbook")
    with pytest.raises(InputDataError, match="cannot read the annotation file"):
        datasets.list_subjects(spec_for(tmp_path))
