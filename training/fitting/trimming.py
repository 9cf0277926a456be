"""Trimmed training: the autoencoder stops fitting the normal beats it reconstructs worst.

ECG5000's normal class holds a few beats that look abnormal. At the end of every epoch after the
first `warmup`, the `fraction` of the fitted beats reconstructed worst gets weight 0 for the next
epoch (a trimmed loss; the set is chosen again every epoch, so a beat can come back). Keras still
divides a batch's loss by its size, so trimmed beats count as zero error. Early stopping watches
the validation slice untrimmed, and the threshold is computed over every training normal beat,
the trimmed ones included.

`WeightedBeats`, the batches trimming weights, also applies the fitting's augmentations (shifts and
baseline steps, `training.data.augment`), drawn again every epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import keras
import numpy as np

from training.data.augment import baseline_steps, draw_steps, jitter

ErrorsOf = Callable[[keras.Model, np.ndarray], np.ndarray]


class WeightedBeats(keras.utils.PyDataset):  # type: ignore[misc]
    """The fitted beats as (input, target, weight) batches, in a new seeded order every epoch.

    With `max_shift`, every epoch each beat is also moved by a new random shift of up to that
    many recording samples either way (`training.data.augment.jitter`): input and target alike.
    With `step_height`, every epoch a new `step_fraction` of the beats gets a baseline step of up
    to that many of its standard deviations (`training.data.augment.baseline_steps`), drawn from
    a generator of its own, so the order and shifts are those of a run without steps.
    """

    def __init__(
        self,
        beats: np.ndarray,
        batch_size: int,
        seed: int,
        max_shift: float = 0.0,
        step_height: float = 0.0,
        step_fraction: float = 0.0,
    ) -> None:
        super().__init__()
        self.beats = beats
        self.weights = np.ones(len(beats), dtype=np.float32)
        self._batch_size = batch_size
        self._max_shift = max_shift
        self._step_height = step_height
        self._step_fraction = step_fraction
        self._rng = np.random.default_rng(seed)
        self._step_rng = np.random.default_rng([seed, 1])
        self._order = self._rng.permutation(len(beats))
        self._shifts = self._draw_shifts()
        self._step_heights, self._step_starts = self._draw_steps()

    def _draw_shifts(self) -> np.ndarray:
        if not self._max_shift:
            return np.zeros(len(self.beats))
        return self._rng.uniform(-self._max_shift, self._max_shift, len(self.beats))

    def _draw_steps(self) -> tuple[np.ndarray, np.ndarray]:
        n_beats, length = self.beats.shape
        if not (self._step_height and self._step_fraction):
            return np.zeros(n_beats), np.zeros(n_beats, dtype=np.int64)
        return draw_steps(self._step_rng, n_beats, length, self._step_height, self._step_fraction)

    def __len__(self) -> int:
        return math.ceil(len(self.beats) / self._batch_size)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = self._order[index * self._batch_size : (index + 1) * self._batch_size]
        beats = self.beats[rows]
        if self._max_shift:
            beats = jitter(beats, self._shifts[rows])
        stepped = self._step_heights[rows] != 0
        if stepped.any():
            beats = beats.copy()
            beats[stepped] = baseline_steps(
                beats[stepped], self._step_heights[rows][stepped], self._step_starts[rows][stepped]
            )
        return beats, beats, self.weights[rows]

    def on_epoch_end(self) -> None:
        self._order = self._rng.permutation(len(self.beats))
        self._shifts = self._draw_shifts()
        self._step_heights, self._step_starts = self._draw_steps()


class TrimWorstBeats(keras.callbacks.Callback):  # type: ignore[misc]
    """After each epoch past the first `warmup`, weight 0 for the worst `fraction` of the beats."""

    def __init__(
        self, data: WeightedBeats, fraction: float, warmup: int, errors_of: ErrorsOf
    ) -> None:
        super().__init__()
        self._data = data
        self._fraction = fraction
        self._warmup = warmup
        self._errors_of = errors_of

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        if epoch + 1 < self._warmup:
            return
        errors = self._errors_of(self.model, self._data.beats)
        worst = np.argsort(errors, kind="stable")[len(errors) - self.trimmed_count(len(errors)) :]
        self._data.weights[:] = 1.0
        self._data.weights[worst] = 0.0

    def trimmed_count(self, n_beats: int) -> int:
        return round(self._fraction * n_beats)
