"""Ablation configs: expansion into experiments, validation of each merged variant, and the
papers'-layout table built from saved metrics."""

from __future__ import annotations

import copy

import pytest
import yaml

from mer import config
from mer.errors import ConfigError
from mer.report.ablations import ablation_names, ablation_table
from mer.workflow import Plan
from tests.test_report import metrics


def _with_ablation(params: dict, **variants: dict) -> dict:
    params = copy.deepcopy(params)
    base = {**params["experiments"]["casme2_loso_ststnet"], "seeds": [0, 1]}
    params["ablations"] = {
        "toy": {
            "title": "Toy table: rise and fall",
            "base": base,
            "columns": ["Rise", "Fall"],
            "variants": variants
            or {
                "D": {"set": {"input": "rise_flow"}, "describe": {"Rise": "✓", "Fall": ""}},
                "S": {"set": {"input": "rise_fall_flow", "lr": 0.01}, "describe": {"Rise": "✓", "Fall": "✓"}},
            },
        }
    }
    return params


def test_variants_expand_into_grouped_experiments(repo, tmp_path) -> None:
    params = _with_ablation(config.load(repo / "params.yaml"))
    config.validate(params)
    expanded = config.ablation_experiments(params)
    assert list(expanded) == ["toy__D", "toy__S"]
    assert expanded["toy__S"]["input"] == "rise_fall_flow" and expanded["toy__S"]["lr"] == 0.01
    assert expanded["toy__D"]["lr"] == params["experiments"]["casme2_loso_ststnet"]["lr"]
    assert {e["group"] for e in expanded.values()} == {"toy"}
    assert set(config.all_experiments(params)) == {"casme2_loso_ststnet", "toy__D", "toy__S"}
    assert ablation_names(params, "toy") == ["toy__D", "toy__S"]
    with pytest.raises(ConfigError, match="unknown ablation"):
        ablation_names(params, "nope")


def test_each_merged_variant_is_validated(repo) -> None:
    params = _with_ablation(config.load(repo / "params.yaml"), bad={"set": {"epochs": 0}})
    with pytest.raises(ConfigError, match=r"ablations\.toy\.variants\.bad \(merged\): epochs"):
        config.validate(params)
    params = _with_ablation(config.load(repo / "params.yaml"), bad={"set": {"datasets": ["samm"]}})
    with pytest.raises(ConfigError, match="samm"):
        config.validate(params)


def test_double_underscore_names_are_reserved(repo) -> None:
    params = copy.deepcopy(config.load(repo / "params.yaml"))
    params["experiments"]["a__b"] = params["experiments"]["casme2_loso_ststnet"]
    with pytest.raises(ConfigError, match="a__b"):
        config.validate(params)


def test_plan_keeps_ablations_out_of_the_benchmark(repo, tmp_path) -> None:
    params = _with_ablation(config.load(repo / "params.yaml"))
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    plan = Plan.from_config(params, path)
    assert plan.benchmark == ["casme2_loso_ststnet"]
    assert plan.ablations == {"toy": ["toy__D", "toy__S"]}
    assert plan.folds["toy__S"] == plan.folds["casme2_loso_ststnet"]


def _toy_provenance() -> dict:
    origin = {
        "model": "ststnet", "input": "rise_flow", "datasets": ["casme2"], "protocol": "loso", "group": "toy",
        "selection": "last epoch", "scheme": "", "annotation": "", "params_hash": "p", "manifest_hash": "m",
    }  # fmt: skip
    return {"git_commit": "abc", "experiments": {"toy__D": origin, "toy__S": origin}}


def test_ablation_table_in_the_papers_layout(repo) -> None:
    params = _with_ablation(config.load(repo / "params.yaml"))
    provenance = _toy_provenance()
    markdown, frame, latex = ablation_table(
        params, "toy", {"toy__D": metrics(0.5, 0.1, 2), "toy__S": metrics(0.7, 0.1, 2)}, provenance
    )
    lines = markdown.splitlines()
    assert lines[0] == "| Variant | Rise | Fall | casme2 UF1 | casme2 UAR | Seeds | Predicted |"
    # per-dataset UF1 over seeds 0 and 1: 0.5 and 0.51 → mean 0.505, SD 0.0071; predictions summed over seeds
    assert lines[2] == "| D | ✓ |  | 0.5050 ± 0.0071 | 0.5000 ± 0.0000 | 2 | 7/10 |"
    assert lines[3].startswith("| S | ✓ | ✓ | 0.7050")
    assert lines[4] == "| majority class |  |  | 0.3000 | 0.5000 | – | 10/0 |"
    assert frame.loc[0, "predicted_counts"] == "7/10"
    assert frame["variant"].tolist() == ["D", "S"] and frame.loc[1, "casme2_uf1_mean"] == pytest.approx(0.705)
    assert "Toy table" in markdown and "\\begin{tabular}" in latex
    params["ablations"]["toy"]["variants"]["D"]["describe"] = {"Other": "x"}
    with pytest.raises(ConfigError, match="Other"):
        ablation_table(params, "toy", {"toy__D": metrics(0.5, 0.1, 2), "toy__S": metrics(0.7, 0.1, 2)}, provenance)


def test_predicted_counts_follow_the_class_order_the_caption_names(repo) -> None:
    params = _with_ablation(config.load(repo / "params.yaml"))
    provenance = _toy_provenance()
    # metrics.json stores counts with sorted keys; the scheme's class order is not alphabetical
    saved = {name: {**metrics(0.5, 0.1, 2), "classes": ["positive", "negative"]} for name in ("toy__D", "toy__S")}
    markdown, frame, _ = ablation_table(params, "toy", saved, provenance)
    lines = markdown.splitlines()
    assert lines[2].endswith("| 2 | 10/7 |") and frame.loc[0, "predicted_counts"] == "10/7"
    assert lines[4].endswith("| – | 0/10 |")
    assert "how often each class (positive/negative) was predicted" in markdown
