"""params.yaml validation: the shipped file is valid, bad keys are named in the error."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mer import config
from mer.errors import ConfigError


def _write(tmp_path: Path, params: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_shipped_params_are_valid(repo: Path) -> None:
    params = config.load(repo / "params.yaml")
    assert "casme2" in params["datasets"]


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).parents[1] / "params").glob("*.yaml")))
def test_every_params_file_is_valid(repo: Path, name: str) -> None:
    assert config.load(repo / "params" / name)["experiments"]


def test_claim_reselection_params_follow_the_evidence_file(repo: Path) -> None:
    """Claim experiment 1 (docs/claims.md) changes only the twin's noise and the ablation it runs."""
    evidence = config.load(repo / "params" / "synthetic-evidence.yaml")
    claim = config.load(repo / "params" / "claim-reselection.yaml")
    for section in set(evidence) | set(claim):
        if section not in {"synth", "ablations"}:
            assert claim.get(section) == evidence.get(section), section
    quarter = {key: evidence["synth"][key] / 4 for key in ("drift_px", "flicker", "noise_sd")}
    assert claim["synth"] == {**evidence["synth"], **quarter, "apex_error_frames": 8.0}
    methods = evidence["ablations"]["evidence_methods"]
    (ablation,) = claim["ablations"].values()
    assert ablation["base"] == config.deep_merge(methods["base"], methods["variants"]["GAMDSS"]["set"])
    assert {name: v["set"] for name, v in ablation["variants"].items()} == {
        "annotated": {"keyframes": "annotated"},
        "reselected": {"keyframes": "reselected"},
    }


@pytest.mark.parametrize(
    ("override", "key", "fragment"),
    [
        ({"experiments": {"casme2_loso_ststnet": {"epochs": 0}}}, "experiments.casme2_loso_ststnet.epochs", "minimum"),
        ({"crop": {"reference": "middle"}}, "crop.reference", "is not one of"),
        ({"flow": {"tvl1": {"scale_step": 1.5}}}, "flow.tvl1.scale_step", "maximum"),
        ({"keyframes": {"lambda_rise": "big"}}, "keyframes.lambda_rise", "is not of type"),
        ({"crop": {"colour": True}}, "crop", "Additional properties"),
    ],
)
def test_bad_value_names_the_key(tmp_path: Path, repo: Path, override: dict, key: str, fragment: str) -> None:
    params = config.deep_merge(yaml.safe_load((repo / "params.yaml").read_text()), override)
    with pytest.raises(ConfigError) as excinfo:
        config.load(_write(tmp_path, params))
    message = str(excinfo.value)
    assert f"{key}:" in message and fragment in message


def test_missing_section_is_named(tmp_path: Path, repo: Path) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    del params["flow"]
    with pytest.raises(ConfigError, match="'flow' is a required property"):
        config.load(_write(tmp_path, params))


def test_experiment_must_name_a_configured_dataset(tmp_path: Path, repo: Path) -> None:
    params = config.deep_merge(
        yaml.safe_load((repo / "params.yaml").read_text()),
        {"experiments": {"casme2_loso_ststnet": {"datasets": ["samm"]}}},
    )
    with pytest.raises(ConfigError, match=r"experiments\.casme2_loso_ststnet\.datasets: 'samm'"):
        config.load(_write(tmp_path, params))


def test_synthetic_root_maps_to_data_synthetic(repo: Path) -> None:
    spec = config.dataset_spec(config.load(repo / "params.yaml"), "casme2")
    assert spec.synthetic and spec.root == Path("data/synthetic/casme2")


def test_params_hash_is_order_independent() -> None:
    assert config.params_hash({"a": 1, "b": [1, 2]}) == config.params_hash({"b": [1, 2], "a": 1})
    assert config.params_hash({"a": 1}) != config.params_hash({"a": 2})
