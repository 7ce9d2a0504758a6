"""Preprocessing QC report: files, fallbacks listed, shift summary, byte-identical reruns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mer import h5
from mer.errors import InputDataError
from mer.paths import QC_FIGURES
from mer.preprocess.keyframes import keyframes_table
from mer.qc import build_qc
from tests.test_preprocess import KEYFRAMES as PREPROCESS_KEYFRAMES

KEYFRAMES = {**PREPROCESS_KEYFRAMES, "lambda_rise": 0.2, "lambda_fall": 0.2}


def write_corpus(root: Path) -> pd.DataFrame:
    """Two subjects, three clips of a brightening square peaking at frame 12; one clip used a fallback."""
    rng = np.random.default_rng(5)
    manifest = pd.DataFrame(
        [("sub01", "EP01", 2, 10, 22), ("sub01", "EP02", 2, 14, 22), ("sub02", "EP01", 2, 12, 22)],
        columns=["subject", "clip", "onset", "apex", "offset"],
    ).assign(dataset="casme2")
    for subject, rows in manifest.groupby("subject"):
        with h5.open_for_write(root / f"{subject}.h5") as f:
            for row in rows.itertuples():
                numbers = np.arange(row.onset, row.offset + 1)
                level = 40 * np.sin(np.pi * (numbers - 2) / 20)
                frames = rng.integers(60, 70, size=(len(numbers), 16, 16, 3)).astype(np.float64)
                frames[:, 4:8, 4:8] += level[:, None, None, None]
                group = h5.create_group(f, row.clip)
                h5.create_dataset(group, "frames", frames.astype(np.uint8))
                h5.create_dataset(group, "frame_numbers", numbers.astype(np.int32))
                group.attrs["fallback"] = "neighbour_frame:3" if row.clip == "EP02" else "none"
                group.attrs["probability"] = 0.99
                group.attrs["reference_frame"] = 3 if row.clip == "EP02" else 2
    return manifest


def test_qc_report_files_content_and_rerun(tmp_path: Path) -> None:
    manifest = write_corpus(tmp_path)
    table = keyframes_table(manifest, tmp_path, KEYFRAMES)
    text = build_qc("casme2", table, tmp_path, tmp_path / "qc")
    assert (tmp_path / "qc" / "qc.md").read_text() == text
    assert "3 samples, 2 subjects" in text and "fallbacks used: 1 of 3 clips" in text
    assert "| sub01 | EP02 | neighbour_frame:3 | 3 | 0.9900 |" in text
    assert "| apex, spotted − annotated | 2 | 0.00 | 1.33 | -2 | 2 |" in text
    first = {name: (tmp_path / "qc" / name).read_bytes() for name in QC_FIGURES}
    assert all(data.startswith(b"\x89PNG") for data in first.values())
    build_qc("casme2", table, tmp_path, tmp_path / "qc")
    assert first == {name: (tmp_path / "qc" / name).read_bytes() for name in QC_FIGURES}


def test_qc_missing_faces_names_the_subject(tmp_path: Path) -> None:
    table = keyframes_table(write_corpus(tmp_path), tmp_path, KEYFRAMES)
    (tmp_path / "sub02.h5").unlink()
    with pytest.raises(InputDataError, match="subject=sub02"):
        build_qc("casme2", table, tmp_path, tmp_path / "qc")


def write_flow_caches(root: Path) -> pd.DataFrame:
    """Flow caches for 2 subjects × 4 clips: rise = a uniform (k, 0) px flow, fall its reverse."""
    rows = [("sub01", f"EP{k:02d}") for k in range(1, 5)] + [("sub02", f"EP{k:02d}") for k in range(1, 5)]
    table = pd.DataFrame(rows, columns=["subject", "clip"]).assign(dataset="casme2")
    for subject, clips in table.groupby("subject"):
        with h5.open_for_write(root / f"{subject}.h5") as f:
            for k, clip in enumerate(clips["clip"], start=1):
                group = h5.create_group(f, clip)
                rise = np.zeros((3, 8, 8), np.float32)
                rise[0] = k
                h5.create_dataset(group, "rise", rise)
                h5.create_dataset(group, "fall", -rise)
    return table


def test_flow_qc_figure_shared_scale_and_rerun(tmp_path: Path) -> None:
    from mer.qc.flow import build_flow_qc, pick_clips

    table = write_flow_caches(tmp_path)
    chosen = pick_clips(table, 3)
    assert [f"{r.subject}/{r.clip}" for r in chosen.itertuples()] == ["sub01/EP01", "sub02/EP01", "sub02/EP04"]
    assert len(pick_clips(table, 20)) == 8
    radius = build_flow_qc("casme2", table, tmp_path, tmp_path / "qc" / "flow.png", count=3)
    assert radius == 4.0  # the largest shown magnitude (sub02/EP04: 4 px)
    first = (tmp_path / "qc" / "flow.png").read_bytes()
    assert first.startswith(b"\x89PNG")
    build_flow_qc("casme2", table, tmp_path, tmp_path / "qc" / "flow.png", count=3)
    assert (tmp_path / "qc" / "flow.png").read_bytes() == first
    (tmp_path / "sub02.h5").unlink()
    with pytest.raises(InputDataError, match="subject=sub02"):
        build_flow_qc("casme2", table, tmp_path, tmp_path / "qc" / "flow.png", count=3)
