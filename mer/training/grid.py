"""The hyper-parameter grid of nested selection (`experiments.<name>.tuning`), free of torch.

    tuning:
      inner_folds: 3      # subject-level folds of each outer fold's training subjects
      seed: 0             # shuffles those subjects into the inner folds
      grid:               # any of TUNABLE, each a list of candidates
        lr: [0.0005, 0.001, 0.002]
        epochs: [20, 40]

A candidate is one value per grid key; keys the grid omits keep the experiment's value.
Candidates are ordered by the product of the non-epoch keys (TUNABLE order, values as
listed) with the epoch budgets innermost (as listed); the first best candidate wins ties, so
list the value you would pick without evidence first. `mer.config.validate` applies
`check_tuning` when params are parsed; mer.training.tuning does the selection.
"""

from __future__ import annotations

import itertools
from typing import Any

from mer.errors import ConfigError

# The experiment keys a grid may vary (the "lr, epochs, weight decay"); the schema's
# tuning.grid properties must be exactly these (tests/test_tuning.py).
TUNABLE = ("lr", "weight_decay", "epochs")


def check_tuning(experiment: dict[str, Any], where: str) -> None:
    """ConfigError naming `where` when tuning is combined with inner_validation (two selection rules)."""
    if experiment.get("tuning") and experiment.get("inner_validation"):
        raise ConfigError(
            f"{where}: tuning and inner_validation both choose from validation subjects; set one of them "
            "(tuning's inner folds also choose the epoch budget)"
        )


def settings(experiment: dict[str, Any]) -> list[dict[str, Any]]:
    """The grid's non-epoch combinations in tie-breaking order (one empty setting when none is varied)."""
    grid = experiment["tuning"]["grid"]
    keys = [key for key in TUNABLE if key != "epochs" and key in grid]
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*(grid[key] for key in keys))]


def epoch_budgets(experiment: dict[str, Any]) -> list[int]:
    """The candidate epoch budgets as listed (the experiment's own `epochs` when the grid has none)."""
    return [int(e) for e in experiment["tuning"]["grid"].get("epochs", [experiment["epochs"]])]


def candidates(experiment: dict[str, Any]) -> list[dict[str, Any]]:
    """Every candidate, one value per varied key plus `epochs`, in tie-breaking order."""
    return [{**setting, "epochs": epochs} for setting in settings(experiment) for epochs in epoch_budgets(experiment)]
