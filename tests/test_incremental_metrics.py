"""Continual-learning metrics on hand-computed toy accuracy matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mer.incremental.metrics import (
    accuracy_matrix,
    backward_transfer,
    forgetting,
    mean_sd,
    summarise,
    trial_metrics,
)

# Three sessions with 2, 2 and 4 test samples. By hand:
# R = [[1, ., .], [0.5, 1, .], [0.5, 0.5, 0.75]]
LABELS = [[0, 1], [2, 2], [0, 1, 2, 3]]
PREDICTIONS = [
    [[0, 1]],
    [[0, 0], [2, 2]],
    [[1, 1], [2, 0], [0, 1, 2, 0]],
]


def test_toy_trial_by_hand() -> None:
    m = trial_metrics(PREDICTIONS, LABELS, n_global=9)
    assert m["R"] == [[1.0, None, None], [0.5, 1.0, None], [0.5, 0.5, 0.75]]
    # A_t sample-weighted: 1, (2·.5 + 2·1)/4, (2·.5 + 2·.5 + 4·.75)/8
    assert m["cumulative_accuracy"] == pytest.approx([1.0, 0.75, 0.625])
    assert m["balanced_accuracy"] == pytest.approx([1.0, 0.75, (0.5 + 0.5 + 0.75) / 3])
    assert m["avg_incremental_accuracy"] == pytest.approx((1.0 + 0.75 + 0.625) / 3)
    assert m["last_accuracy"] == pytest.approx(0.625)
    assert m["forgetting"] == pytest.approx(0.5)  # ((1 − .5) + (1 − .5)) / 2
    assert m["bwt"] == pytest.approx(-0.5)
    # at T: truth [0,1,2,2,0,1,2,3], predicted [1,1,2,0,0,1,2,0]
    # F1: class 0 = 2·1/(2·1+2+1) = .4, class 1 = 4/5, class 2 = 4/5, class 3 = 0
    assert m["uf1_last"] == pytest.approx((0.4 + 0.8 + 0.8 + 0.0) / 4)
    assert m["uar_last"] == pytest.approx((0.5 + 1.0 + 2 / 3 + 0.0) / 4)
    assert m["per_class_recall"][:4] == pytest.approx([0.5, 1.0, 2 / 3, 0.0])
    assert m["per_class_recall"][4:] == [None] * 5
    assert np.array(m["confusion"]).shape == (9, 9) and np.array(m["confusion"]).sum() == 8
    assert m["confusion"][3][0] == 1 and m["confusion"][0][1] == 1
    assert m["uf1"][0] == pytest.approx(1.0)  # after session 1 every prediction is right
    assert m["predicted_counts"][0] == [1, 1, 0, 0, 0, 0, 0, 0, 0]
    assert m["predicted_counts"][2] == [3, 3, 2, 0, 0, 0, 0, 0, 0]
    assert m["true_counts"][1] == [1, 1, 2, 0, 0, 0, 0, 0, 0]


def test_forgetting_takes_the_max_before_the_last_session_without_floor() -> None:
    peak_in_middle = np.array([[0.5, np.nan, np.nan], [1.0, 0.8, np.nan], [0.5, 0.8, 0.6]])
    assert forgetting(peak_in_middle) == pytest.approx(((1.0 - 0.5) + (0.8 - 0.8)) / 2)
    assert backward_transfer(peak_in_middle) == pytest.approx(((0.5 - 0.5) + (0.8 - 0.8)) / 2)
    improved = np.array([[0.4, np.nan], [0.9, 0.7]])
    assert forgetting(improved) == pytest.approx(-0.5)  # not floored at 0
    assert backward_transfer(improved) == pytest.approx(0.5)
    assert forgetting(np.array([[0.3]])) is None and backward_transfer(np.array([[0.3]])) is None


def test_accuracy_matrix_checks_its_shape() -> None:
    with pytest.raises(ValueError, match="t \\+ 1 test parts"):
        accuracy_matrix([[[0, 1]], [[0, 0]]], LABELS[:2])
    with pytest.raises(ValueError, match="1 predictions for 2"):
        accuracy_matrix([[[0]]], [[0, 1]])


def test_summary_over_folds() -> None:
    first = trial_metrics(PREDICTIONS, LABELS, 9)
    worse = [[[0, 1]], [[0, 0], [2, 2]], [[1, 1], [2, 0], [3, 3, 3, 0]]]  # A_3 = (1 + 1 + 0)/8
    second = trial_metrics(worse, LABELS, 9)
    summary = summarise([first, second])
    assert summary["n_folds"] == 2
    assert summary["last_accuracy"]["mean"] == pytest.approx((0.625 + 0.25) / 2)
    assert summary["last_accuracy"]["sd"] == pytest.approx(math.sqrt(2 * 0.1875**2))
    assert summary["cumulative_accuracy"][0] == {"mean": 1.0, "sd": 0.0, "n": 2}
    assert summary["R_mean"][2] == pytest.approx([0.5, 0.5, (0.75 + 0.0) / 2])
    assert summary["R_mean"][0][1:] == [None, None]
    pooled = np.array(first["confusion"]) + np.array(second["confusion"])
    assert summary["confusion_pooled"] == pooled.tolist()
    assert summary["predicted_pooled"][2] == pooled.sum(axis=0).tolist()
    assert summary["true_pooled"][2] == pooled.sum(axis=1).tolist()
    assert summary["forgetting"]["mean"] == pytest.approx((first["forgetting"] + second["forgetting"]) / 2)


def test_mean_sd_refuses_partly_defined_metrics() -> None:
    assert mean_sd([None, None]) == {"mean": None, "sd": None, "n": 0}
    assert mean_sd([0.5]) == {"mean": 0.5, "sd": None, "n": 1}
    with pytest.raises(ValueError, match="some folds only"):
        mean_sd([0.5, None])
