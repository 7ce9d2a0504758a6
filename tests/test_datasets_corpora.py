"""Every registered corpus: its layout twin ingests to the published counts, and each kind of
corruption (missing frame, apex "/", unknown label, offset 0, duplicate key, unreadable
image) fails validation naming the sample. Twins use tiny placeholder frames."""

from __future__ import annotations

import dataclasses
import shutil
import warnings
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from typer.testing import CliRunner

from mer import datasets
from mer.cli import app
from mer.errors import InputDataError
from mer.config import DatasetSpec
from mer.datasets import apex, composite, problems, registry, sheets, vocabulary
from mer.datasets.frames import list_frames
from mer.synth import twins

REPO = Path(__file__).resolve().parents[1]

# (dataset, scheme) -> (samples, subjects or None if not published, per-class counts or None).
# Sources: ../shared/reference/datasets.md §1-§3; "(unverified)" there is marked here too.
PUBLISHED: dict[tuple[str, str], tuple[int, int | None, dict[str, int] | None]] = {
    ("casme2", "casme2_5class"): (
        246, 26, {"others": 99, "disgust": 63, "happiness": 32, "repression": 27, "surprise": 25}
    ),
    ("casme2", "casme2_megc3"): (145, 24, {"negative": 88, "positive": 32, "surprise": 25}),
    ("samm", "samm_5class"): (136, 27, {"anger": 57, "contempt": 12, "happiness": 26, "surprise": 15, "other": 26}),
    ("samm", "samm_megc3"): (133, 28, {"negative": 92, "positive": 26, "surprise": 15}),
    ("smic_hs", "smic_3class"): (164, 16, {"negative": 70, "positive": 51, "surprise": 43}),
    ("casme3_a", "casme3_7class"): (
        860, 94, {"anger": 64, "disgust": 250, "fear": 86, "happy": 55, "sad": 57, "surprise": 187, "others": 161}
    ),
    ("casme3_a", "casme3_4class"): (860, 94, {"positive": 55, "negative": 457, "surprise": 187, "others": 161}),
    ("casme3_a", "casme3_3class"): (699, 88, None),
    ("casme3_c", "casme3c_4class"): (165, None, {"negative": 99, "surprise": 30, "others": 20, "positive": 16}),
    ("casme_sq", "casme_sq_4class"): (57, 22, None),  # 57 / 22: unverified
    ("mmew", "mmew_7class"): (300, 36, None),  # 300 / 36: unverified
    ("4dme", "4dme_5class"): (267, None, None),
    ("casme", "casme_8class"): (195, None, None),
}


def spec(name: str, root: Path, scheme: str | None = None) -> DatasetSpec:
    return DatasetSpec(name, root, None, scheme or registry.get(name).schemes[0], synthetic=True)


@pytest.fixture(scope="module")
def full_twins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("full")
    for name in twins.TWINS:
        twins.write_twin(name, "full", base / name)
    return {name: base / name for name in twins.TWINS}


def test_every_registered_corpus_has_a_twin_and_published_rows() -> None:
    assert sorted(twins.TWINS) == datasets.names()
    assert {name for name, _ in PUBLISHED} == set(datasets.names())
    for name in datasets.names():
        assert {scheme for n, scheme in PUBLISHED if n == name} == set(registry.get(name).schemes)


@pytest.mark.parametrize(("name", "scheme"), sorted(PUBLISHED))
def test_full_twin_matches_the_published_counts(full_twins: dict[str, Path], name: str, scheme: str) -> None:
    rows, subjects, counts = PUBLISHED[(name, scheme)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the twin's annotation is a recognised (synthetic) version
        frame, meta = datasets.build_manifest(spec(name, full_twins[name], scheme))
    assert len(frame) == meta["rows"] == rows
    assert meta["annotation_status"] == ("known" if name == "smic_hs" else "synthetic")  # SMIC: labels from folders
    if subjects is not None:
        assert frame["subject"].nunique() == subjects
    if counts is not None:
        assert meta["counts"] == counts
    assert not frame.duplicated(["subject", "clip"]).any()


def test_megc2019_composite_from_the_three_twins(tmp_path: Path) -> None:
    twins.write_twin("megc2019_cde", "full", tmp_path)
    specs = {name: spec(name, tmp_path / name) for name in ("casme2", "samm", "smic_hs")}
    frame, meta = composite.build_composite("megc2019_cde", specs)
    assert (len(frame), meta["subjects"]) == (442, 68)
    assert meta["counts"] == {"negative": 250, "positive": 109, "surprise": 83}
    assert frame.groupby("dataset").size().to_dict() == {"casme2": 145, "samm": 133, "smic_hs": 164}
    assert list(frame.drop_duplicates("label")[["label", "label_index"]].sort_values("label_index")["label"]) == [
        "negative", "positive", "surprise"
    ]  # fmt: skip
    casme2 = meta["parts"]["casme2"]
    assert [(e["subject"], e["clip"]) for e in casme2["excluded_samples"]] == [("sub04", "EP12_01f"), ("sub05", "EP09_05f")]
    assert sorted(frame.loc[frame["dataset"] == "casme2", "subject"].unique()) == [
        f"sub{n:02d}" for n in range(1, 27) if n not in (10, 18)
    ]
    assert "025" not in set(frame.loc[frame["dataset"] == "samm", "subject"])


# --- corruptions -----------------------------------------------------------------------


def small_twin(name: str, root: Path) -> tuple[DatasetSpec, Any]:
    twins.write_twin(name, "small", root)
    frame, _ = datasets.build_manifest(spec(name, root))
    return spec(name, root), frame.iloc[0]


def sheet_cells(name: str, root: Path, sample: Any) -> tuple[openpyxl.Workbook, Any, int, dict[str, int], Path]:
    """The twin's workbook, its data sheet, the Excel line of `sample` and column numbers."""
    info = registry.get(name)
    path = next(p for p in root.glob("*.xlsx"))
    book = openpyxl.load_workbook(path)
    found = LAYOUTS[name]
    sheet = book[found.sheet] if isinstance(found.sheet, str) else book.worksheets[found.sheet]
    header_line = None if found.header_row is None else found.header_row + 1
    columns: dict[str, int] = {}
    for source, ours in found.columns.items():
        if isinstance(source, int):
            columns[ours] = source + 1
        else:
            cells = [c.value for c in sheet[header_line]]
            columns[ours] = cells.index(source) + 1
    clip = sample["clip"].split("#")[0]
    for line in range((header_line or 0) + 1, sheet.max_row + 1):
        subject_cell = sheet.cell(line, columns["subject"]).value
        same_subject = info.subject_folder(subject_cell) == sample["subject"] if subject_cell is not None else False
        if same_subject and str(sheet.cell(line, columns["clip"]).value) == clip:
            return book, sheet, line, columns, path
    raise AssertionError("sample not found in the sheet")


def _layouts() -> dict[str, sheets.SheetLayout]:
    from mer.datasets import casme, casme3, casme_sq, fourdme, mmew, samm

    found = {m.LAYOUT.dataset: m.LAYOUT for m in (casme, casme_sq, fourdme, mmew, samm)}
    return {**found, "casme3_a": casme3.PART_A, "casme3_c": casme3.PART_C}


LAYOUTS = _layouts()


def set_cell(name: str, root: Path, sample: Any, column: str, value: object) -> None:
    book, sheet, line, columns, path = sheet_cells(name, root, sample)
    sheet.cell(line, columns[column]).value = value
    book.save(path)


def duplicate_row(name: str, root: Path, sample: Any) -> None:
    book, sheet, line, _, path = sheet_cells(name, root, sample)
    sheet.append([cell.value for cell in sheet[line]])
    book.save(path)


def frame_file(spec_: DatasetSpec, sample: Any, number: int) -> Path:
    files = dict(list_frames(spec_.root / sample["frame_dir"], registry.get(spec_.name).frame_regex))
    return files[number]


SHEET_CORPORA = sorted(LAYOUTS) + ["casme2"]
LAYOUTS["casme2"] = sheets.SheetLayout("casme2", 0, 0, {"Subject": "subject", "Filename": "clip",
    "OnsetFrame": "onset", "ApexFrame": "apex", "OffsetFrame": "offset", "Estimated Emotion": "emotion"})  # fmt: skip


def corrupt(kind: str, name: str, spec_: DatasetSpec, sample: Any) -> str:
    """Apply one corruption; return the text the problem must contain."""
    if kind == "missing frame":
        frame_file(spec_, sample, int(sample["onset"]) + 1).unlink()
        return f"frame={int(sample['onset']) + 1}] 1 of"
    if kind == "unreadable image":
        frame_file(spec_, sample, int(sample["onset"])).write_bytes(b"not a jpeg")
        return "frame file cannot be decoded"
    if kind == "apex slash":
        set_cell(name, spec_.root, sample, "apex", "/")
        return "apex is not a frame number: '/'"
    if kind == "unknown label":
        set_cell(name, spec_.root, sample, "emotion", "bogus")
        return "unknown emotion label 'bogus'"
    if kind == "offset zero":
        set_cell(name, spec_.root, sample, "offset", 0)
        return "offset is 0"
    duplicate_row(name, spec_.root, sample)
    return "duplicate sample"


KINDS = ["missing frame", "unreadable image", "apex slash", "unknown label", "offset zero", "duplicate key"]
CASES = [
    (name, kind)
    for name in SHEET_CORPORA
    for kind in KINDS
    if not (kind == "apex slash" and not registry.get(name).has_apex)
]


@pytest.mark.parametrize(("name", "kind"), CASES)
def test_corruption_fails_validation_naming_the_sample(tmp_path: Path, name: str, kind: str) -> None:
    spec_, sample = small_twin(name, tmp_path / name)
    expected = corrupt(kind, name, spec_, sample)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.UnknownAnnotationWarning)  # the edited sheet's digest
        found = [str(p) for p in datasets.validate(spec_)]
        with pytest.raises(datasets.DatasetValidationError):
            datasets.build_manifest(spec_)
    where = f"[dataset={name} subject={sample['subject']} clip="
    assert any(where in text and expected in text for text in found), found


def smic_clip(spec_: DatasetSpec, sample: Any) -> Path:
    return spec_.root / sample["frame_dir"]


SMIC_CORRUPTIONS = {
    "missing frame": lambda s, c: frame_file(s, c, int(c["onset"]) + 1).unlink(),
    "unreadable image": lambda s, c: frame_file(s, c, int(c["onset"])).write_bytes(b""),
    "unknown label": lambda s, c: smic_clip(s, c).parent.rename(smic_clip(s, c).parent.with_name("bogus")),
    "duplicate key": lambda s, c: shutil.copytree(
        smic_clip(s, c), smic_clip(s, c).parent.with_name("surprise" if c["emotion"] != "surprise" else "positive")
        / c["clip"]
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(SMIC_CORRUPTIONS))
def test_smic_folder_corruptions_fail_naming_the_sample(tmp_path: Path, kind: str) -> None:
    spec_, sample = small_twin("smic_hs", tmp_path / "smic")
    SMIC_CORRUPTIONS[kind](spec_, sample)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.UnknownAnnotationWarning)
        found = [str(p) for p in datasets.validate(spec_)]
    assert any(f"subject={sample['subject']} clip={sample['clip']}" in text for text in found), found


# --- overrides, opt-outs, keys and substitutes ------------------------------------------


def test_overrides_are_applied_reported_and_skipped_for_other_versions(tmp_path: Path) -> None:
    spec_, _ = small_twin("casme2", tmp_path / "c2")
    frame, meta = datasets.build_manifest(spec_)
    assert [item["key"] for item in meta["overrides"]["applied"]] == ["sub04/EP12_01f"]
    row = frame[(frame["subject"] == "sub04") & (frame["clip"] == "EP12_01f")].iloc[0]
    assert row["apex"] == 294
    set_cell("casme2", spec_.root, row, "apex", 290)  # another release with an apex there
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", datasets.UnknownAnnotationWarning)
        frame, meta = datasets.build_manifest(spec_)
    assert meta["overrides"]["applied"] == []
    assert meta["overrides"]["not_applicable"][0]["why"] == "file holds {'apex': '290'}"
    assert frame[(frame["subject"] == "sub04") & (frame["clip"] == "EP12_01f")]["apex"].tolist() == [290]


def test_override_table_entries_carry_reason_and_source() -> None:
    table = yaml.safe_load((REPO / "mer/datasets/tables/overrides.yaml").read_text())
    assert isinstance(table.pop("version"), int)
    for dataset, entries in table.items():
        registry.get(dataset)
        for entry in entries:
            assert entry["reason"] and entry["source"] and isinstance(entry["key"]["clip"], str)


def test_opting_out_of_a_category_drops_the_sample_and_records_it(tmp_path: Path) -> None:
    spec_, sample = small_twin("samm", tmp_path / "samm")
    frame_file(spec_, sample, int(sample["onset"]) + 1).unlink()
    with pytest.raises(datasets.DatasetValidationError):
        datasets.build_manifest(spec_)
    frame, meta = datasets.build_manifest(spec_, ignore=["missing_frames"])
    assert sample["clip"] not in set(frame["clip"])
    assert len(meta["ignored_problems"]) == 1 and sample["clip"] in meta["ignored_problems"][0]
    with pytest.raises(datasets.registry.ConfigError, match="unknown problem categories"):
        datasets.validate(spec_, ignore=["nope"])


def test_casme3_keys_occurrences_resolves_folder_case_and_reads_damaged_list(tmp_path: Path) -> None:
    spec_, _ = small_twin("casme3_a", tmp_path / "c3")
    frame, _ = datasets.build_manifest(spec_)
    first = frame[frame["subject"] == "spNO.1"]
    assert {"a#1", "a#2"} <= set(first["clip"]) and first[first["clip"].str.startswith("a#")]["frame_dir"].nunique() == 1
    assert set(frame.loc[frame["subject"] == "spNO.2", "frame_dir"].str.split("/").str[1]) == {"spNo.2"}
    sample = frame.iloc[0]
    damaged = spec_.root / "error_info_damaged_image_partA.txt"
    damaged.write_text(f"{sample['subject']} {sample['clip'].split('#')[0].upper()} {sample['onset']}.jpg cannot open\n")
    found = [str(p) for p in datasets.validate(spec_)]
    assert any("official damaged-image list" in text and f"clip={sample['clip']}" in text for text in found), found
    assert datasets.validate(spec_, ignore=["damaged"]) == []


def test_apex_substitutes_are_named_and_recorded(tmp_path: Path) -> None:
    spec_, _ = small_twin("smic_hs", tmp_path / "smic")
    frame, meta = datasets.build_manifest(spec_)
    assert meta["apex_substitute"] == "midpoint"
    assert (frame["apex"] == (frame["onset"] + frame["offset"]) // 2).all()
    sample = frame.iloc[0]
    frame_file(spec_, sample, int(sample["offset"])).write_bytes(
        __import__("cv2").imencode(".jpg", __import__("numpy").zeros((16, 16, 3), "uint8"))[1].tobytes()
    )
    moved, meta = datasets.build_manifest(spec_, apex_substitute="max_motion")
    assert meta["apex_substitute"] == "max_motion" and moved.iloc[0]["apex"] == sample["offset"]
    with pytest.raises(datasets.registry.ConfigError, match="unknown apex substitute"):
        datasets.build_manifest(spec_, apex_substitute="guess")
    assert set(apex.SUBSTITUTES) == {"midpoint", "max_motion"}


def test_unknown_annotation_version_warns_loudly(tmp_path: Path) -> None:
    spec_, _ = small_twin("mmew", tmp_path / "mmew")
    (spec_.root / "MMEW_Micro_Exp_synthetic.xlsx").rename(spec_.root / "MMEW_Micro_Exp_private.xlsx")
    with pytest.warns(datasets.UnknownAnnotationWarning, match="not a known version"):
        _, meta = datasets.build_manifest(spec_)
    assert meta["annotation_status"] == "unknown"


def test_params_schema_categories_match_the_code() -> None:
    schema = yaml.safe_load((REPO / "mer/schemas/params.schema.yaml").read_text())
    entry = schema["properties"]["datasets"]["additionalProperties"]["properties"]
    assert entry["ignore"]["items"]["enum"] == list(problems.CATEGORIES)
    assert entry["apex_substitute"]["enum"] == list(apex.SUBSTITUTES)


def test_cross_dataset_vocabulary_covers_its_corpora() -> None:
    assert vocabulary.global_emotions()[:3] == ("disgust", "happiness", "others")
    assert vocabulary.global_emotion("casme3_a", "happy") == "happiness"
    assert vocabulary.global_emotion("samm", "other") == "others"
    with pytest.raises(datasets.registry.ConfigError):
        vocabulary.global_emotion("smic_hs", "negative")


def test_composite_schemes_share_classes() -> None:
    cde = composite.get("megc2019_cde")
    assert cde.classes == ("negative", "positive", "surprise")
    assert dict(cde.parts) == {"smic_hs": "smic_3class", "casme2": "casme2_megc3", "samm": "samm_megc3"}


# --- CLI ----------------------------------------------------------------------------------


def test_cli_validate_and_manifest_with_root(tmp_path: Path) -> None:
    runner = CliRunner()
    params = str(REPO / "params.yaml")
    spec_, sample = small_twin("samm", tmp_path / "samm")
    out = tmp_path / "m.csv"
    args = ["manifest", "-p", params, "-d", "samm", "--root", str(spec_.root), "--scheme", "samm_megc3", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert datasets.read_manifest(out)["label"].nunique() == 3 and "3 override(s) applied" in " ".join(result.output.split())
    result = runner.invoke(app, ["validate", "-p", params, "-d", "samm", "--root", str(spec_.root)])
    assert result.exit_code == 0 and "override applied: 032/032_3_1" in " ".join(result.output.split()), result.output
    frame_file(spec_, sample, int(sample["onset"])).unlink()
    result = runner.invoke(app, ["validate", "-p", params, "-d", "samm", "--root", str(spec_.root)])
    assert result.exit_code == 1 and f"subject={sample['subject']} clip={sample['clip']}" in " ".join(result.output.split())
    allowed = ["validate", "-p", params, "-d", "samm", "--root", str(spec_.root), "--allow", "missing_frames"]
    assert runner.invoke(app, allowed).exit_code == 0


def test_twins_are_byte_identical_on_rerun(tmp_path: Path) -> None:
    for target in ("a", "b"):
        twins.write_twin("casme3_a", "small", tmp_path / target)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    assert dataclasses.is_dataclass(twins.TWINS["samm"])


# --- video staging and synth presets --------------------------------------------------------


def test_video_is_staged_with_the_corpus_frame_names(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    from mer.datasets import videos

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (32, 24))
    for k in range(5):
        writer.write(np.full((24, 32, 3), 40 * k, np.uint8))
    writer.release()
    info = registry.get("samm")
    assert videos.stage(info, video, tmp_path / "006_1_2", "006", first=5562) == 5
    names = [path.name for _, path in list_frames(tmp_path / "006_1_2", info.frame_regex)]
    assert names == [f"006_{n:05d}.jpg" for n in range(5562, 5567)]
    first = tmp_path / "006_1_2" / "006_05562.jpg"
    assert cv2.imread(str(first), cv2.IMREAD_UNCHANGED).ndim == 2  # SAMM is greyscale
    before = first.read_bytes()
    videos.stage(info, video, tmp_path / "006_1_2", "006", first=5562)
    assert first.read_bytes() == before
    with pytest.raises(InputDataError, match="video cannot be opened"):
        videos.stage(info, tmp_path / "missing.avi", tmp_path / "x", "006")
    with pytest.raises(InputDataError, match="no frame-name format"):
        videos.stage(registry.get("casme"), video, tmp_path / "y", "sub01")


def test_synth_presets_cover_every_twin_and_planned_subjects_match(tmp_path: Path, tiny_params: dict) -> None:
    from mer import config, synth

    params = config.deep_merge(tiny_params, {"synth": {"size": "small"}})
    config.validate(params)
    synth.generate("megc2019_cde", params, tmp_path / "cde")
    assert sorted(p.name for p in (tmp_path / "cde").iterdir()) == ["casme2", "samm", "smic_hs"]
    assert synth.planned_subjects("samm", params) == list(twins.TWINS["samm"].sizes["small"].subjects)
    synth.generate("casme2", params, tmp_path / "c2")  # size given: the layout twin, not rendered faces
    assert (tmp_path / "c2" / "CASME2_RAW_selected" / "sub04" / "EP12_01f").is_dir()
    assert not (tmp_path / "c2" / "ground_truth").exists()
