"""Shifted beats: the training jitter, and the re-cut strip the leaderboard evaluates on."""

from __future__ import annotations

import numpy as np

from tests.training.conftest import synthetic_beats
from training.data.augment import RECORDING_SAMPLES_PER_BEAT, jitter, recut


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
