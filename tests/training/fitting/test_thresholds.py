"""The threshold rules on made-up error arrays, with exact expected thresholds.

Errors are multiples of 1/16, so means, midpoints and percentiles are exact in floating point.
"""

from __future__ import annotations

import numpy as np
import pytest

from training.fitting.thresholds import (
    calibrated_threshold,
    candidate_thresholds,
    mean_plus_k_std_threshold,
    operating_point,
    percentile_threshold,
)


def sixteenths(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.float64) / 16


@pytest.mark.parametrize(("k", "expected"), [(0.0, 0.25), (1.0, 0.375), (2.0, 0.5)])
def test_mean_plus_k_std_threshold_is_exact(k: float, expected: float) -> None:
    errors = sixteenths(2, 2, 6, 6)  # mean 4/16, population std 2/16
    assert mean_plus_k_std_threshold(errors, k) == expected


@pytest.mark.parametrize(("percentile", "expected"), [(90, 9 / 16), (95, 9.5 / 16), (100, 10 / 16)])
def test_percentile_threshold_interpolates_linearly(percentile: float, expected: float) -> None:
    errors = sixteenths(*range(11))
    assert percentile_threshold(errors, percentile) == expected


@pytest.mark.parametrize("percentile", [0, -1, 100.5])
def test_percentile_threshold_refuses_percentiles_outside_0_to_100(percentile: float) -> None:
    with pytest.raises(ValueError, match=r"\(0, 100\]"):
        percentile_threshold(sixteenths(1, 2), percentile)


def test_candidates_are_the_midpoints_plus_half_a_gap_beyond_each_end() -> None:
    candidates = candidate_thresholds(sixteenths(4, 8, 8, 16))
    np.testing.assert_array_equal(candidates, sixteenths(2, 6, 12, 20))


def test_candidates_keep_two_errors_one_float_apart_separated() -> None:
    low = 0.5
    high = np.nextafter(low, 1.0)
    candidates = candidate_thresholds(np.array([low, high]))
    assert candidates[1] == low  # no float lies strictly between them; `low` still separates
    assert operating_point(np.array([low]), np.array([high]), candidates[1]).accuracy == 1.0


def test_operating_point_calls_an_error_equal_to_the_threshold_normal() -> None:
    point = operating_point(sixteenths(1, 2, 4), sixteenths(4, 6), threshold=4 / 16)
    assert (point.true_negative, point.false_positive) == (3, 0)
    assert (point.false_negative, point.true_positive) == (1, 1)
    assert (point.precision, point.recall, point.false_alarm_rate) == (1.0, 0.5, 0.0)
    assert point.f1 == pytest.approx(2 / 3)
    assert point.accuracy == 0.8


# normal 1, 2, 3, 5 and abnormal 4, 6, 7, 8 (sixteenths): one normal beat (5) among the abnormal
NORMAL = sixteenths(1, 2, 3, 5)
ABNORMAL = sixteenths(4, 6, 7, 8)


def test_calibrated_threshold_maximises_f1() -> None:
    point = calibrated_threshold(NORMAL, ABNORMAL, "max_f1")
    assert point.threshold == 3.5 / 16  # flags 4, 5, 6, 7, 8: F1 8/9
    assert (point.recall, point.precision, point.false_alarm_rate) == (1.0, 0.8, 0.25)
    assert point.f1 == pytest.approx(8 / 9)
    assert point.accuracy == 7 / 8


@pytest.mark.parametrize(
    ("target", "expected", "recall"),
    [(0.0, 5.5 / 16, 0.75), (0.25, 3.5 / 16, 1.0), (0.5, 3.5 / 16, 1.0), (1.0, 3.5 / 16, 1.0)],
)
def test_calibrated_threshold_meets_the_false_alarm_target(
    target: float, expected: float, recall: float
) -> None:
    point = calibrated_threshold(NORMAL, ABNORMAL, "false_alarm_rate", target)
    assert point.threshold == expected
    assert point.false_alarm_rate <= target
    assert point.recall == recall


def test_false_alarm_target_prefers_fewer_false_alarms_at_the_same_recall() -> None:
    # normal 1, 3, 4; abnormal 2, 5. With at most 1 false alarm of 3 allowed, 3.5/16 (flags 4 and
    # 5) and 4.5/16 (flags 5) both catch one abnormal beat; the second raises no false alarm.
    point = calibrated_threshold(sixteenths(1, 3, 4), sixteenths(2, 5), "false_alarm_rate", 0.5)
    assert point.threshold == 4.5 / 16
    assert (point.recall, point.false_alarm_rate) == (0.5, 0.0)


def test_f1_ties_go_to_the_lower_false_alarm_rate() -> None:
    # Flagging everything (threshold 0.5/16) and flagging only 7 and 8 (6.5/16) both give F1 2/3.
    point = calibrated_threshold(sixteenths(3, 4, 5, 6), sixteenths(1, 2, 7, 8), "max_f1")
    assert point.threshold == 6.5 / 16
    assert point.f1 == pytest.approx(2 / 3)
    assert point.false_alarm_rate == 0.0


def test_calibration_flags_everything_when_that_is_best() -> None:
    point = calibrated_threshold(sixteenths(4), sixteenths(4, 8, 8, 8), "max_f1")
    assert point.threshold == 2 / 16  # half the gap (4/16) below the smallest error
    assert point.recall == 1.0 and point.false_alarm_rate == 1.0


def test_calibration_refuses_a_slice_without_both_classes() -> None:
    with pytest.raises(ValueError, match="both normal and abnormal"):
        calibrated_threshold(sixteenths(1, 2), sixteenths(), "max_f1")


@pytest.mark.parametrize(("objective", "target"), [("max_f1", 0.1), ("false_alarm_rate", None)])
def test_a_target_goes_with_the_false_alarm_objective_only(
    objective: str, target: float | None
) -> None:
    with pytest.raises(ValueError, match="target"):
        calibrated_threshold(NORMAL, ABNORMAL, objective, target)  # type: ignore[arg-type]
