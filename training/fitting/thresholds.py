"""Threshold rules: from per-beat reconstruction errors to the error above which a beat is abnormal.

Pure numpy. As in the service, a beat is abnormal when its error is strictly above the threshold.

- `mean_plus_k_std_threshold`: mean + k * std of the training normal beats' errors (the tutorial's
  rule, k = 1).
- `percentile_threshold`: a percentile of those errors.
- `calibrated_threshold`: chosen on labelled errors (in training, of the training part's beats;
  never the test rows), to maximise F1, or to catch the most abnormal beats while flagging at
  most a target fraction of the normal ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Objective = Literal["max_f1", "false_alarm_rate"]


def mean_plus_k_std_threshold(errors: np.ndarray, k: float) -> float:
    """mean + k * std (population std, ddof 0) of `errors`."""
    return float(np.mean(errors)) + k * float(np.std(errors))


def percentile_threshold(errors: np.ndarray, percentile: float) -> float:
    """numpy's default (linear) percentile of `errors`; `percentile` in (0, 100]."""
    if not 0 < percentile <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {percentile}")
    return float(np.percentile(errors, percentile))


@dataclass(frozen=True)
class OperatingPoint:
    """The verdicts at one threshold on labelled errors; abnormal is the positive class."""

    threshold: float
    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int

    @property
    def n(self) -> int:
        return self.true_positive + self.false_negative + self.false_positive + self.true_negative

    @property
    def precision(self) -> float:
        flagged = self.true_positive + self.false_positive
        return self.true_positive / flagged if flagged else 0.0

    @property
    def recall(self) -> float:
        abnormal = self.true_positive + self.false_negative
        return self.true_positive / abnormal if abnormal else 0.0

    @property
    def f1(self) -> float:
        denominator = 2 * self.true_positive + self.false_positive + self.false_negative
        return 2 * self.true_positive / denominator if denominator else 0.0

    @property
    def false_alarm_rate(self) -> float:
        """The fraction of normal beats flagged abnormal (the false positive rate)."""
        normal = self.false_positive + self.true_negative
        return self.false_positive / normal if normal else 0.0

    @property
    def accuracy(self) -> float:
        correct = self.true_positive + self.true_negative
        return correct / self.n if self.n else 0.0


def operating_point(
    normal_errors: np.ndarray,
    abnormal_errors: np.ndarray,
    threshold: float,
) -> OperatingPoint:
    false_positive = int(np.sum(normal_errors > threshold))
    true_positive = int(np.sum(abnormal_errors > threshold))
    return OperatingPoint(
        threshold=float(threshold),
        true_positive=true_positive,
        false_positive=false_positive,
        false_negative=len(abnormal_errors) - true_positive,
        true_negative=len(normal_errors) - false_positive,
    )


def candidate_thresholds(errors: np.ndarray) -> np.ndarray:
    """One threshold per distinct set of verdicts on `errors`, in increasing order.

    The midpoints between consecutive distinct errors, plus half a gap below the smallest error
    (every beat flagged) and half a gap above the largest (none flagged). Any other threshold
    gives the same verdicts as one of these, so scanning them is exact.
    """
    values = np.unique(errors)
    gaps = np.diff(values)
    below = gaps[0] / 2 if len(gaps) else 0.5
    above = gaps[-1] / 2 if len(gaps) else 0.5
    midpoints = values[:-1] + gaps / 2
    # Two errors one float apart have no float between them: the lower one separates them too.
    midpoints = np.where(midpoints < values[1:], midpoints, values[:-1])
    return np.concatenate([[values[0] - below], midpoints, [values[-1] + above]])


def calibrated_threshold(
    normal_errors: np.ndarray,
    abnormal_errors: np.ndarray,
    objective: Objective,
    target: float | None = None,
) -> OperatingPoint:
    """The best threshold on labelled errors, scanning every distinct set of verdicts.

    `max_f1`: the highest F1.
    `false_alarm_rate`: the highest recall among the thresholds whose false-alarm rate is at most
    `target` (flagging nothing always qualifies); that is the lowest such threshold, unless a
    higher one catches as many abnormal beats with fewer false alarms.
    Ties go to the lower false-alarm rate, then to the higher threshold.
    """
    if not len(normal_errors) or not len(abnormal_errors):
        raise ValueError("calibration needs both normal and abnormal errors")
    if (objective == "false_alarm_rate") != (target is not None):
        raise ValueError("a target goes with the false_alarm_rate objective, and only with it")
    candidates = candidate_thresholds(np.concatenate([normal_errors, abnormal_errors]))
    false_positive = _count_above(normal_errors, candidates)
    true_positive = _count_above(abnormal_errors, candidates)
    false_alarm_rate = false_positive / len(normal_errors)
    if target is None:  # max_f1, as checked above
        score = 2 * true_positive / (true_positive + false_positive + len(abnormal_errors))
        allowed = np.ones(len(candidates), dtype=bool)
    else:
        score = true_positive / len(abnormal_errors)
        allowed = false_alarm_rate <= target
    # np.lexsort sorts by its last key first: best score, then fewest false alarms, then highest.
    order = np.lexsort((-candidates, false_alarm_rate, -score))
    best = order[allowed[order]][0]
    return operating_point(normal_errors, abnormal_errors, float(candidates[best]))


def _count_above(errors: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """For each threshold, how many errors are strictly above it."""
    return len(errors) - np.searchsorted(np.sort(errors), thresholds, side="right")
