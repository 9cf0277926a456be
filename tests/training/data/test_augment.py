"""Training augmentations (shifts, baseline steps) and the re-cut strip the leaderboard scores."""

from __future__ import annotations

import numpy as np
import pytest

from tests.training.conftest import synthetic_beats
from training.data.augment import (
    RECORDING_SAMPLES_PER_BEAT,
    baseline_steps,
    draw_steps,
    jitter,
    recut,
)


def spike_beats(n: int, position: int, length: int = 140) -> np.ndarray:
    beats = np.zeros((n, length), dtype=np.float32)
    beats[:, position] = 1.0
    return beats


def test_jitter_by_zero_leaves_beats_alone() -> None:
    beats, _ = synthetic_beats(5, 0)
    np.testing.assert_array_equal(jitter(beats, np.zeros(5)), beats)


def test_jitter_moves_each_beat_by_its_own_shift_in_recording_samples() -> None:
    beats = spike_beats(2, 70)
    per_sample = 139 / (RECORDING_SAMPLES_PER_BEAT - 1)  # beat samples per recording sample
    shifts = np.array([-4.0, 4.0])
    moved = jitter(beats, shifts)
    # x'(t) = x(t + d): a later cut brings the spike earlier in the beat
    peaks = (moved * np.arange(140)).sum(axis=1) / moved.sum(axis=1)
    np.testing.assert_allclose(peaks, 70 - shifts * per_sample, atol=1e-4)
    assert moved.dtype == beats.dtype


def test_jitter_wraps_what_leaves_one_end_to_the_other() -> None:
    one_beat_sample = (RECORDING_SAMPLES_PER_BEAT - 1) / 139  # in recording samples
    moved = jitter(spike_beats(1, 0), np.array([one_beat_sample]))
    assert moved[0, -1] > 0.99  # the spike at sample 0 moved one sample earlier: to the end


def test_recut_by_zero_is_only_the_resampling_round_trip() -> None:
    beats = np.sin(np.linspace(0, 2 * np.pi, 140))[None, :].repeat(3, axis=0).astype(np.float32)
    np.testing.assert_allclose(recut(beats, 0), beats, atol=1e-3)


def test_recut_takes_the_next_beats_start_into_the_window() -> None:
    first = np.zeros((1, 140), dtype=np.float32)
    second = np.full((1, 140), 5.0, dtype=np.float32)
    cut = recut(np.vstack([first, second]), 4)
    assert cut[0, :-5].max() == 0.0  # beat 1, four recording samples later ...
    assert cut[0, -1] == 5.0  # ... ends in the start of beat 2


def test_baseline_step_keeps_each_beats_mean_and_spread() -> None:
    beats, _ = synthetic_beats(4, 0)
    stepped = baseline_steps(beats, np.array([3.0, -3.0, 1.0, 0.5]), np.array([40, 70, 100, 20]))
    np.testing.assert_allclose(stepped.mean(axis=1), beats.mean(axis=1), atol=1e-5)
    np.testing.assert_allclose(stepped.std(axis=1), beats.std(axis=1), rtol=1e-4)
    assert stepped.dtype == beats.dtype


def test_baseline_step_takes_the_spread_and_shrinks_the_beat() -> None:
    # two periods: each half of the beat has mean 0, and mean 0 and spread 1 as ECG5000's rows
    beats = np.sqrt(2) * np.sin(np.linspace(0, 4 * np.pi, 140, endpoint=False))[None, :]
    stepped = baseline_steps(beats, np.array([-3.0]), np.array([70]))

    def halves(rows: np.ndarray) -> tuple[float, float]:
        """(first half's level - second's, spread about each half's level)"""
        first, second = rows[0, :70], rows[0, 70:]
        residual = np.concatenate([first - first.mean(), second - second.mean()])
        return float(first.mean() - second.mean()), float(residual.std())

    (level, shape), (stepped_level, stepped_shape) = halves(beats), halves(stepped)
    # the step's 3 spreads over a new spread of sqrt(1 + 1.5²): high before the start, low after
    assert abs(level) < 1e-6 and stepped_level == pytest.approx(3 / np.sqrt(3.25), rel=1e-3)
    assert stepped_shape / shape == pytest.approx(1 / np.sqrt(3.25), rel=1e-3)  # the beat shrinks


def test_baseline_step_of_height_zero_or_on_a_flat_beat_changes_nothing() -> None:
    beats, _ = synthetic_beats(2, 0)
    np.testing.assert_allclose(
        baseline_steps(beats, np.zeros(2), np.array([50, 60])), beats, atol=1e-5
    )
    flat = np.full((1, 140), 0.25, dtype=np.float32)
    np.testing.assert_array_equal(baseline_steps(flat, np.array([2.0]), np.array([50])), flat)


def test_steps_are_drawn_for_a_fraction_of_the_beats_inside_them() -> None:
    heights, starts = draw_steps(np.random.default_rng(0), 10_000, 140, 3.0, 0.3)
    stepped = heights != 0
    assert 0.28 < stepped.mean() < 0.32
    assert np.abs(heights).max() <= 3.0 and np.abs(heights[stepped]).mean() > 1.3
    assert starts.min() >= 20 and starts.max() < 120
