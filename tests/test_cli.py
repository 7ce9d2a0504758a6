"""The command line: every stage verb exists and explains itself; bad input exits 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mer.cli import app

VERBS = ["synth", "validate", "manifest", "crop", "keyframes", "flow", "folds", "train", "evaluate", "report", "qc", "pipeline", "doctor", "pretrain", "qc-flow"]
runner = CliRunner()


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb: str) -> None:
    result = runner.invoke(app, [verb, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and len(result.output.splitlines()) > 3


def test_invalid_params_exit_2_with_key(tmp_path: Path, repo: Path) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["crop"]["size"] = 8
    bad = tmp_path / "params.yaml"
    bad.write_text(yaml.safe_dump(params))
    result = runner.invoke(app, ["manifest", "-p", str(bad)])
    assert result.exit_code == 2
    assert "crop.size" in result.output and "Traceback" not in result.output


def test_unknown_experiment_is_named(repo: Path) -> None:
    result = runner.invoke(app, ["folds", "-e", "nope", "-p", str(repo / "params.yaml")])
    assert result.exit_code == 2 and "'nope'" in result.output


def test_error_location_survives_console_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    from mer import cli
    from mer.errors import InputDataError

    @cli.reports_errors
    def failing() -> None:
        raise InputDataError("frame missing", dataset="casme2", subject="sub01", clip="EP02_01f", frame=50)

    with pytest.raises(Exception) as excinfo, cli.err.capture() as captured:
        failing()
    assert getattr(excinfo.value, "exit_code", None) == 2
    assert "[dataset=casme2 subject=sub01 clip=EP02_01f frame=50] frame missing" in captured.get()


def test_crop_of_a_subject_the_scheme_empties_writes_an_empty_file(tmp_path: Path, repo: Path, monkeypatch) -> None:
    # The SAMM small twin's subject 036 carries only emotions outside samm_5class; the workflow
    # still plans it (subjects are known before the manifest), so its crop must not fail.
    import h5py

    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["datasets"] = {"samm": {"root": "synthetic", "annotation": None, "scheme": "samm_5class"}}
    params["experiments"]["casme2_loso_ststnet"]["datasets"] = ["samm"]
    params.pop("ablations")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    for args in (["synth", "-d", "samm"], ["manifest", "-d", "samm"], ["crop", "-d", "samm", "-s", "036"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
    with h5py.File(tmp_path / "data/interim/samm/faces/036.h5") as faces:
        assert list(faces) == [] and "samm_5class" in faces.attrs["note"]
    result = runner.invoke(app, ["crop", "-d", "samm", "-s", "999"])
    assert result.exit_code == 2 and "'999'" in result.output
