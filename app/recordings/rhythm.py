"""Timing: a beat that comes too early for this person's rhythm, the way premature atrial and
ventricular beats do, whatever its shape.

A beat's prematurity is its RR interval over the local rhythm, the median of the RR intervals of
the `local_beats` beats before it; a beat is premature below the rule's `premature_below`.
`calibrate_rhythm` sets that from a baseline stretch without labels: the median of its ratios less
four robust standard deviations (1.4826 x the median absolute deviation), which the few premature
beats in a baseline barely move.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from app.inference.artifact import RhythmRule

ROBUST_SIGMAS = 4.0
MAX_PREMATURE_BELOW = 0.95


def prematurity(peaks: npt.NDArray[np.int64], local_beats: int) -> npt.NDArray[np.float64]:
    """Per beat: its RR interval over the median of the `local_beats` before it (NaN for the first
    two beats, which have no rhythm before them to compare with)."""
    ratios = np.full(len(peaks), np.nan)
    rr = np.diff(peaks).astype(np.float64)
    for i in range(2, len(peaks)):
        before = rr[max(0, i - 1 - local_beats) : i - 1]
        ratios[i] = rr[i - 1] / np.median(before)
    return ratios


def calibrate_rhythm(
    peak_sets: Sequence[npt.NDArray[np.int64]], local_beats: int = 8
) -> RhythmRule:
    """The rule from the R peaks of one or more baseline stretches (one array each)."""
    ratios = np.concatenate([prematurity(peaks, local_beats) for peaks in peak_sets])
    ratios = ratios[np.isfinite(ratios)]
    median = float(np.median(ratios))
    sigma = float(1.4826 * np.median(np.abs(ratios - median)))
    below = min(MAX_PREMATURE_BELOW, median - ROBUST_SIGMAS * sigma)
    return RhythmRule(
        local_beats=local_beats,
        premature_below=below,
        baseline_median=median,
        baseline_sigma=sigma,
        baseline_beats=len(ratios),
    )


def timing_score(ratio: float, premature_below: float) -> float:
    """0 for a beat on time, 1 at the rule's boundary, more the earlier it comes."""
    if not np.isfinite(ratio):
        return 0.0
    return max(0.0, (1.0 - ratio) / (1.0 - premature_below))
