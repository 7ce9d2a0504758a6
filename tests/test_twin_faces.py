"""Layout twins with rendered faces (`synth.frames: rendered`) and the too-small-frame crop error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import h5py
import numpy as np
import pytest

from mer import config, datasets
from mer.config import DatasetSpec
from mer.datasets import registry
from mer.errors import ConfigError, InputDataError
from mer.preprocess import faces
from mer.synth import generate, twin_faces, twins
from mer.synth.twins.engine import TwinRow, frame_bytes

REPO = Path(__file__).resolve().parents[1]
SYNTH = {"frames": "rendered", "frame_size": [128, 112], "face_size": 72, "amplitude_px": [6.0, 8.0]}
CROP = {"size": 48, "min_face_size": 40}


@pytest.fixture(scope="module")
def params() -> dict[str, Any]:
    return config.deep_merge(config.load(REPO / "params.yaml"), {"synth": SYNTH, "crop": CROP})


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, params: dict[str, Any]) -> dict[str, Path]:
    """Rendered small twins of the three corpora the tests look at."""
    base = tmp_path_factory.mktemp("rendered")
    for name in ("samm", "mmew", "casme3_a"):
        twins.write_twin(name, "small", base / name, params["synth"]["seed"], params["synth"])
    return {name: base / name for name in ("samm", "mmew", "casme3_a")}


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def manifest(name: str, root: Path) -> Any:
    frame, _ = datasets.build_manifest(DatasetSpec(name, root, None, registry.get(name).schemes[0], synthetic=True))
    return frame


@pytest.mark.parametrize("name", ["samm", "mmew", "casme3_a"])
def test_rendered_twin_keeps_layout_and_annotation(tmp_path: Path, rendered: dict[str, Path], name: str) -> None:
    twins.write_twin(name, "small", tmp_path, 0)
    placeholder, faces_tree = tree(tmp_path), tree(rendered[name])
    assert sorted(placeholder) == sorted(faces_tree)
    frames = [path for path in placeholder if path.endswith(".jpg")]
    assert frames and all(faces_tree[path] != placeholder[path] for path in frames)
    assert all(faces_tree[path] == placeholder[path] for path in placeholder if not path.endswith(".jpg"))
    columns = ["subject", "clip", "emotion", "onset", "apex", "offset"]
    assert manifest(name, tmp_path)[columns].equals(manifest(name, rendered[name])[columns])


def test_rendered_frames_keep_the_colour_mode_and_change_towards_the_apex(rendered: dict[str, Path]) -> None:
    samm = sorted((rendered["samm"] / "SAMM" / "006" / "006_1_1").glob("*.jpg"))
    grey = cv2.imread(str(samm[0]), cv2.IMREAD_UNCHANGED)
    assert grey.shape == (112, 128)  # single channel, as the SAMM twin
    colour = next((rendered["mmew"] / "Micro_Expression").rglob("*.jpg"))
    assert cv2.imread(str(colour), cv2.IMREAD_UNCHANGED).shape == (112, 128, 3)
    # frames: onset-1, onset, apex = onset+1, onset+2, offset, offset+1; motion peaks at the apex
    images = [cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float64) for path in samm]
    change = [np.abs(image - images[1]).mean() for image in images]
    assert change[2] == max(change) and change[2] > 2 * change[0]


def test_rendered_twins_are_deterministic(tmp_path: Path, params: dict[str, Any], rendered: dict[str, Path]) -> None:
    twins.write_twin("samm", "small", tmp_path / "again", 0, params["synth"])
    assert tree(tmp_path / "again") == tree(rendered["samm"])
    twins.write_twin("samm", "small", tmp_path / "other", 0, {**params["synth"], "seed": 1})
    assert tree(tmp_path / "other") != tree(rendered["samm"])


@pytest.mark.parametrize("name", ["samm", "mmew", "casme3_a"])
def test_mtcnn_finds_the_rendered_face(rendered: dict[str, Path], params: dict[str, Any], name: str) -> None:
    row = manifest(name, rendered[name]).iloc[0]
    files = dict(datasets.frames.list_frames(rendered[name] / row["frame_dir"], registry.get(name).frame_regex))
    where = {"dataset": name, "subject": row["subject"], "clip": row["clip"], "frame": int(row["apex"])}
    image = datasets.frames.read_frame(files[int(row["apex"])], **where)
    found = faces.detect(image, int(row["apex"]), params["crop"])
    assert found is not None and found.probability > 0.9
    height = found.box[3] - found.box[1]
    assert 0.6 * SYNTH["face_size"] < height < 1.6 * SYNTH["face_size"]


def test_generate_renders_twins_from_params(tmp_path: Path, params: dict[str, Any]) -> None:
    config.validate(params)
    generate("casme3_c", {**params, "synth": {**params["synth"], "size": "small"}}, tmp_path / "c")
    frame = next((tmp_path / "c" / "part_C").rglob("*.jpg")).read_bytes()
    assert frame != frame_bytes(False)


def test_emotions_map_to_actions_and_unknown_ones_fail() -> None:
    assert twin_faces.action_key("samm", "Other") == "others"
    assert twin_faces.action_key("casme3_a", "happy") == "happiness"
    assert twin_faces.action_key("mmew", "sadness") == "sad"
    assert twin_faces.action_key("smic_hs", "negative") == "negative"
    assert twin_faces.action_key("casme", "amusement") == "happiness"
    for name, spec in twins.TWINS.items():
        for size in spec.sizes.values():
            assert all(twin_faces.action_key(name, emotion) for emotion in size.counts)
    with pytest.raises(ConfigError, match="Elation"):
        twin_faces.action_key("samm", "Elation")
    with pytest.raises(ConfigError, match="frames"):
        twins.write_twin("samm", "small", Path("unused"), 0, {"frames": "drawn"})


def test_true_apex_of_quirk_rows() -> None:
    assert twin_faces.true_apex(TwinRow(0, "c", "Anger", 10, 12, 20)) == 12
    assert twin_faces.true_apex(TwinRow(0, "c", "Anger", 4896, 1930, 4950)) == 4923  # apex before onset
    assert twin_faces.true_apex(TwinRow(0, "c", "disgust", 280, "/", 300)) == 290


def test_placeholder_frames_give_an_input_error_naming_the_clip(tmp_path: Path, params: dict[str, Any]) -> None:
    twins.write_twin("samm", "small", tmp_path, 0)
    rows = manifest("samm", tmp_path)
    rows = rows[rows["subject"] == "006"]
    info = registry.get("samm")
    with pytest.raises(InputDataError, match="smaller than crop.min_face_size") as error:
        faces.crop_subject(rows, tmp_path, info.frame_regex, params["crop"], tmp_path / "006.h5")
    first = sorted(rows["clip"])[0]
    assert (error.value.dataset, error.value.subject, error.value.clip) == ("samm", "006", first)
    assert error.value.frame is not None


def test_rendered_samm_subject_crops_without_fallbacks(rendered: dict[str, Path], params: dict[str, Any]) -> None:
    rows = manifest("samm", rendered["samm"])
    rows = rows[rows["subject"] == "006"]
    out = rendered["samm"].parent / "006.h5"
    faces.crop_subject(rows, rendered["samm"], registry.get("samm").frame_regex, params["crop"], out)
    with h5py.File(out, "r") as f:
        assert sorted(f) == sorted(rows["clip"])
        assert {f[clip].attrs["fallback"] for clip in f} == {"none"}
