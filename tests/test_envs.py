"""The conda files mirror pyproject.toml's pins, so `--use-conda` runs what the venv tests."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement


def _pyproject(repo: Path) -> dict:
    return tomllib.loads((repo / "pyproject.toml").read_text())


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        req = Requirement(line)
        (spec,) = req.specifier  # exactly one specifier per requirement
        assert spec.operator == "==", f"{line}: pins must be exact"
        pins[req.name.lower()] = spec.version
    return pins


def _env_pip(path: Path) -> list[str]:
    env = yaml.safe_load(path.read_text())
    deps = env["dependencies"]
    assert "pip" in deps, f"{path}: list pip explicitly or conda adds it with a warning"
    (pip_section,) = [d["pip"] for d in deps if isinstance(d, dict)]
    for line in pip_section:
        assert not line.startswith(("-e", "-r", ".", "/")), f"{path}: {line!r} breaks under Snakemake's env copy"
    return pip_section


def test_pyproject_pins_are_exact(repo: Path) -> None:
    project = _pyproject(repo)["project"]
    _pins(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        _pins(extra)


def test_rule_env_mirrors_runtime_pins(repo: Path) -> None:
    runtime = _pins(_pyproject(repo)["project"]["dependencies"])
    assert _pins(_env_pip(repo / "workflow/envs/mer.yaml")) == runtime


def test_dev_env_mirrors_all_pins(repo: Path) -> None:
    project = _pyproject(repo)["project"]
    everything = _pins(project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra])
    assert _pins(_env_pip(repo / "environment.yml")) == everything


def test_nodeps_pins_agree(repo: Path) -> None:
    nodeps = [line for line in (repo / "requirements/nodeps.txt").read_text().splitlines() if line.strip()]
    post_deploy = (repo / "workflow/envs/mer.post-deploy.sh").read_text()
    for line in nodeps:
        assert re.search(rf"--no-deps {re.escape(line)}\b", post_deploy), f"post-deploy script lacks {line}"


def test_every_rule_with_a_command_names_the_env(repo: Path) -> None:
    for smk in sorted((repo / "workflow/rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule )", smk.read_text()):
            if "shell:" in block:
                assert 'conda:\n        "../envs/mer.yaml"' in block, f"{smk.name}: {block.splitlines()[0]}"
