"""Cutting beats out of a lead the way the model's training beats were cut (`BeatWindow`).

A beat runs from one boundary to the next, resampled to the model's input length; the boundary
before R peak i sits `r_peak_position` of the RR interval before it. The detected R peak is a
precise fiducial, but the beats a model learnt were not cut on it to the sample (ECG5000's QRS
trough wanders by about a sample of 140 from beat to beat), and a window 2 samples late already
turns normal beats abnormal. So each boundary is then moved, within `alignment_search` of the
model's samples, to where the model reconstructs the two beats it separates best.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from app.inference.artifact import BeatWindow

ErrorsOf = Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float64]]
# Boundaries are tried at whole model samples, then half a sample either side of the best.
ALIGNMENT_STEP = 0.5
# A boundary beside a beat this many times the median error is searched this many times further.
RESCUE_RATIO = 2.0
RESCUE_REACH = 4.0


@dataclass(frozen=True)
class CutBeats:
    """Beat i spans `boundaries[i]` to `boundaries[i + 1]` (samples, fractional) and is row i."""

    beats: npt.NDArray[np.float32]  # (n_peaks - 1, input_length), per-beat normalised
    boundaries: npt.NDArray[np.float64]  # (n_peaks,)
    inside: npt.NDArray[np.bool_]  # the window lies wholly inside the signal


def initial_boundaries(
    peaks: npt.NDArray[np.int64], r_peak_position: float
) -> npt.NDArray[np.float64]:
    """The boundary before each R peak: `r_peak_position` of the following RR interval before it
    (the last peak, which has no following interval, uses the one before it)."""
    rr = np.diff(peaks).astype(np.float64)
    rr_after = np.append(rr, rr[-1])
    boundaries: npt.NDArray[np.float64] = peaks - r_peak_position * rr_after
    return boundaries


def resample_windows(
    signal: npt.NDArray[np.float64], boundaries: npt.NDArray[np.float64], input_length: int
) -> npt.NDArray[np.float64]:
    """Row i: `input_length` samples from boundary i (included) to boundary i + 1 (excluded)."""
    return resample_between(signal, boundaries[:-1], boundaries[1:], input_length)


def resample_between(
    signal: npt.NDArray[np.float64],
    starts: npt.NDArray[np.float64],
    ends: npt.NDArray[np.float64],
    input_length: int,
) -> npt.NDArray[np.float64]:
    steps = np.arange(input_length, dtype=np.float64) / input_length
    times = np.clip(starts[:, None] + (ends - starts)[:, None] * steps[None, :], 0, len(signal) - 1)
    # linear interpolation on the uniform sample grid (np.interp searches for each point)
    left = np.minimum(times.astype(np.int64), len(signal) - 2)
    fraction = times - left
    rows: npt.NDArray[np.float64] = signal[left] + fraction * (signal[left + 1] - signal[left])
    return rows


def normalise_beats(rows: npt.NDArray[np.float64], window: BeatWindow) -> npt.NDArray[np.float32]:
    if window.per_beat_normalisation == "none":
        return rows.astype(np.float32)
    centred = rows - rows.mean(axis=1, keepdims=True)
    spread = centred.std(axis=1, ddof=1, keepdims=True)
    spread[spread == 0] = 1.0  # a flat window stays flat (signal quality marks it)
    normalised: npt.NDArray[np.float32] = (centred / spread).astype(np.float32)
    return normalised


def cut_beats(
    signal: npt.NDArray[np.float64],
    peaks: npt.NDArray[np.int64],
    window: BeatWindow,
    input_length: int,
    errors_of: ErrorsOf | None = None,
) -> CutBeats:
    """The beats between consecutive R peaks (at least two are needed), aligned with `errors_of`
    (the model's reconstruction error of normalised beats) when it is given."""
    boundaries = initial_boundaries(peaks, window.r_peak_position)

    def beats_at(candidate: npt.NDArray[np.float64]) -> npt.NDArray[np.float32]:
        return normalise_beats(resample_windows(signal, candidate, input_length), window)

    if errors_of is not None and window.alignment_search > 0:
        boundaries = _aligned(
            boundaries, beats_at, errors_of, window.alignment_search, input_length
        )

        def beats_between(
            starts: npt.NDArray[np.float64], ends: npt.NDArray[np.float64]
        ) -> npt.NDArray[np.float32]:
            return normalise_beats(resample_between(signal, starts, ends, input_length), window)

        boundaries = _rescued(
            boundaries, beats_between, errors_of, window.alignment_search, input_length
        )
    inside = (boundaries[:-1] >= 0) & (boundaries[1:] <= len(signal) - 1)
    return CutBeats(beats_at(boundaries), boundaries, inside)


def _aligned(
    boundaries: npt.NDArray[np.float64],
    beats_at: Callable[[npt.NDArray[np.float64]], npt.NDArray[np.float32]],
    errors_of: ErrorsOf,
    search: float,
    input_length: int,
) -> npt.NDArray[np.float64]:
    """Move each boundary to the shift that minimises the errors of the two beats it separates.

    The cost is the sum of their log errors, so that an abnormal beat's large error does not drag
    the boundary into its normal neighbour. Even and odd boundaries take turns, so that the two
    beats around a moving boundary have their other ends fixed. The first round tries every whole
    model sample within the search, then half a sample either side of the best; the second, with
    the neighbours settled, half-sample steps within one sample (on the ECG5000 strip a third
    round changed accuracy by 0.000).
    """
    schedule = [
        [np.arange(-search, search + 0.5, 1.0), np.array([-ALIGNMENT_STEP, 0.0, ALIGNMENT_STEP])],
        [np.arange(-1.0, 1.0 + ALIGNMENT_STEP / 2, ALIGNMENT_STEP)],
    ]
    # a shift of one model sample is 1 / input_length of the beat's own width
    sample_width = np.append(np.diff(boundaries), np.diff(boundaries)[-1]) / input_length
    boundaries = boundaries.copy()
    for passes in schedule:
        for parity in (0, 1):
            for steps in passes:
                moves = sample_width[parity::2]
                costs = np.empty((len(steps), len(moves)))
                for row, step in enumerate(steps):
                    moved = boundaries.copy()
                    moved[parity::2] += step * moves
                    log_errors = np.log(errors_of(beats_at(moved)))
                    both_sides = np.append(log_errors, 0.0) + np.insert(log_errors, 0, 0.0)
                    costs[row] = both_sides[parity::2]
                boundaries[parity::2] += steps[np.argmin(costs, axis=0)] * moves
    return boundaries


def _rescued(
    boundaries: npt.NDArray[np.float64],
    beats_between: Callable[
        [npt.NDArray[np.float64], npt.NDArray[np.float64]], npt.NDArray[np.float32]
    ],
    errors_of: ErrorsOf,
    search: float,
    input_length: int,
) -> npt.NDArray[np.float64]:
    """Search further for the boundaries still beside an outlying beat.

    A QRS the detector placed badly (an odd-shaped beat) moves its boundary by more than the
    alignment search reaches, and its normal neighbour then looks abnormal too. So a boundary
    between beats whose error is over `RESCUE_RATIO` times the recording's median error is tried
    over `RESCUE_REACH` times the search, recomputing only the two beats beside it; it moves only
    where that lowers their errors. A recording whose beats are all alike is left as it is.
    """
    errors = errors_of(beats_between(boundaries[:-1], boundaries[1:]))
    worst_beside = np.maximum(np.append(errors, 0.0), np.insert(errors, 0, 0.0))
    inner = np.arange(1, len(boundaries) - 1)
    outlying = inner[worst_beside[inner] > RESCUE_RATIO * np.median(errors)]
    steps = np.arange(-RESCUE_REACH * search, RESCUE_REACH * search + 0.5, 1.0)
    boundaries = boundaries.copy()
    for parity in (0, 1):
        chosen = outlying[outlying % 2 == parity]
        if len(chosen) == 0:
            continue
        width = (boundaries[chosen + 1] - boundaries[chosen - 1]) / (2 * input_length)
        costs = np.empty((len(steps), len(chosen)))
        for row, step in enumerate(steps):
            moved = boundaries[chosen] + step * width
            left = errors_of(beats_between(boundaries[chosen - 1], moved))
            right = errors_of(beats_between(moved, boundaries[chosen + 1]))
            costs[row] = np.log(left) + np.log(right)
        boundaries[chosen] += steps[np.argmin(costs, axis=0)] * width
    return boundaries
