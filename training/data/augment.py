"""Training augmentations (shifts, baseline steps) and the shifted-beat evaluation.

Shift tolerance: beats moved in time, as a beat cut from a recording is never aligned to the
sample the way ECG5000's were.

Shifts are in samples of the recording ECG5000 was cut from (250 Hz; a beat is about
`RECORDING_SAMPLES_PER_BEAT` samples there, resampled to 140), so "a shift of 2 samples" means
what it means on a real strip.

- `jitter`: training augmentation. Each beat is moved by its own fraction of a sample, linearly
  interpolated and wrapped around: what leaves one end comes back at the other, as the next beat
  of a regular rhythm starts the way this one does.
- `recut`: the evaluation. Beats are joined into one strip at the recording's rate and cut again
  `shift` samples later, so each cut beat ends in the start of the next real beat of the strip.

Step tolerance (`baseline_steps`, `draw_steps`; a training augmentation, on by default but for a
recording baseline): the step an electrode moving puts in a recording's baseline. ECG5000's beats
were each normalised on their own (mean 0, standard deviation 1), so a beat with a step keeps its
scale: the step takes most of its spread and the QRS complex shrinks. ECG5000 labels such beats
normal.
"""

from __future__ import annotations

import numpy as np

from app.inference.scoring import shift_beats

RECORDING_SAMPLES_PER_BEAT = 205  # ECG5000: one beat is about 0.82 s at 250 Hz
EVALUATED_SHIFTS = (0, 2, 4)


def beat_samples_per_recording_sample(input_length: int) -> float:
    return (input_length - 1) / (RECORDING_SAMPLES_PER_BEAT - 1)


def jitter(beats: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Each beat (row) moved earlier by its shift in recording samples (negative: later)."""
    offsets = np.asarray(shifts, dtype=np.float64) * beat_samples_per_recording_sample(
        beats.shape[1]
    )
    return shift_beats(beats, -offsets)


def recut(beats: np.ndarray, shift: int) -> np.ndarray:
    """The beats joined into a strip at the recording's rate and cut `shift` samples later.

    Each beat is resampled linearly to `RECORDING_SAMPLES_PER_BEAT` samples, the strip is their
    concatenation (the last beat followed by the first again), and beat i becomes the window of
    the same length starting `shift` samples after its own start, resampled back.
    """
    n_beats, n = beats.shape
    per_beat = RECORDING_SAMPLES_PER_BEAT
    to_recording = np.linspace(0, n - 1, per_beat)
    strip = np.concatenate([np.interp(to_recording, np.arange(n), beat) for beat in beats])
    strip = np.concatenate([strip, strip[: shift + per_beat]])
    starts = np.arange(n_beats) * per_beat + shift
    windows = strip[starts[:, None] + np.arange(per_beat)[None, :]]
    back = np.linspace(0, per_beat - 1, n)
    return np.stack([np.interp(back, np.arange(per_beat), window) for window in windows]).astype(
        beats.dtype
    )


STEP_EDGE = 1 / 7  # a step starts inside the beat: nearer an end it would be an offset, not a step


def baseline_steps(beats: np.ndarray, heights: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each beat (row) with a step of its height, in its own standard deviations, from its start
    sample on, then brought back to its own mean and standard deviation."""
    mean = beats.mean(axis=1, keepdims=True)
    spread = beats.std(axis=1, keepdims=True)
    after_start = np.arange(beats.shape[1])[None, :] >= np.asarray(starts)[:, None]
    stepped = beats + np.asarray(heights)[:, None] * spread * after_start
    stepped_spread = stepped.std(axis=1, keepdims=True)
    stepped_spread[stepped_spread == 0] = 1.0  # a flat beat stays flat
    restandardised = (stepped - stepped.mean(axis=1, keepdims=True)) / stepped_spread
    return (mean + restandardised * spread).astype(beats.dtype)


def draw_steps(
    rng: np.random.Generator, n_beats: int, length: int, max_height: float, fraction: float
) -> tuple[np.ndarray, np.ndarray]:
    """(heights, starts) for `baseline_steps`: a `fraction` of the beats, picked at random, get a
    height uniform in ±`max_height`, the others 0; starts are uniform inside the beat."""
    stepped = rng.random(n_beats) < fraction
    heights = np.where(stepped, rng.uniform(-max_height, max_height, n_beats), 0.0)
    edge = round(STEP_EDGE * length)
    starts = rng.integers(edge, length - edge, n_beats)
    return heights, starts
