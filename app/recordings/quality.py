"""Stretches of a lead whose beats cannot be trusted: flat line, saturation, heavy noise.

The lead is looked at one second at a time, against its own typical second (the median
peak-to-peak amplitude), so the rules hold in any units and at any gain. Beats that overlap such a
stretch are reported unscored rather than abnormal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

QualityIssue = Literal["flat line", "saturation", "heavy noise"]
WINDOW_S = 1.0
FLAT_BELOW = 0.05  # of the median peak-to-peak: no QRS left in the second (lead off)
NOISY_ABOVE = 4.0  # of the median peak-to-peak: an artefact larger than any QRS
SATURATED_FRACTION = 0.1  # of a second's samples pinned at the lead's extreme value


@dataclass(frozen=True)
class BadStretch:
    start_s: float
    end_s: float
    issue: QualityIssue


def typical_amplitude(signal: npt.NDArray[np.float64], sampling_rate: float) -> float:
    windows = _seconds(signal, sampling_rate)
    return float(np.median(np.ptp(windows, axis=1))) if len(windows) else 0.0


def bad_stretches(signal: npt.NDArray[np.float64], sampling_rate: float) -> list[BadStretch]:
    windows = _seconds(signal, sampling_rate)
    if len(windows) == 0:
        return []
    amplitude = np.ptp(windows, axis=1)
    typical = float(np.median(amplitude))
    issues: list[QualityIssue | None] = [None] * len(windows)
    pinned = (windows == signal.max()) | (windows == signal.min())
    for i in range(len(windows)):
        if amplitude[i] < FLAT_BELOW * typical:
            issues[i] = "flat line"
        elif pinned[i].mean() >= SATURATED_FRACTION:
            issues[i] = "saturation"
        elif amplitude[i] > NOISY_ABOVE * typical:
            issues[i] = "heavy noise"
    return _merged(issues, len(windows[0]) / sampling_rate, len(signal) / sampling_rate)


def _seconds(signal: npt.NDArray[np.float64], sampling_rate: float) -> npt.NDArray[np.float64]:
    width = max(1, round(WINDOW_S * sampling_rate))
    whole = len(signal) // width
    return signal[: whole * width].reshape(whole, width)


def _merged(issues: list[QualityIssue | None], width_s: float, end_s: float) -> list[BadStretch]:
    stretches: list[BadStretch] = []
    for i, issue in enumerate(issues):
        if issue is None:
            continue
        start, end = i * width_s, min(end_s, (i + 1) * width_s)
        if stretches and stretches[-1].issue == issue and stretches[-1].end_s >= start:
            stretches[-1] = BadStretch(stretches[-1].start_s, end, issue)
        else:
            stretches.append(BadStretch(start, end, issue))
    return stretches


def issue_at(stretches: list[BadStretch], start_s: float, end_s: float) -> QualityIssue | None:
    """The issue of the first bad stretch overlapping [start_s, end_s], if any."""
    for stretch in stretches:
        if stretch.start_s < end_s and start_s < stretch.end_s:
            return stretch.issue
    return None
