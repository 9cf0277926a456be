"""Splitting the rows: the reference train/test split, and the early-stopping validation slice.

No TensorFlow here, so `ecg-evaluate --reference-split` can select the held-out rows without it.
Row indices are kept with the beats, so what each slice holds can be checked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from training.config import TrainConfig
from training.data.sources import Dataset


@dataclass(frozen=True)
class Split:
    """The reference split, in the data's raw units; `*_rows` are row indices into the data."""

    train_beats: np.ndarray
    train_is_normal: np.ndarray
    test_beats: np.ndarray
    test_is_normal: np.ndarray
    train_rows: np.ndarray
    test_rows: np.ndarray


def split_reference(dataset: Dataset, test_size: float, random_state: int) -> Split:
    """`train_test_split(beats, labels, test_size, random_state)`, unstratified, over all rows."""
    rows = np.arange(dataset.n_rows)
    train_x, test_x, train_y, test_y, train_rows, test_rows = train_test_split(
        dataset.beats, dataset.is_normal, rows, test_size=test_size, random_state=random_state
    )
    return Split(train_x, train_y, test_x, test_y, train_rows, test_rows)


def reference_split_description(config: TrainConfig) -> str:
    """How `split_reference` splits, as a model's metadata records it."""
    return (
        f"sklearn train_test_split(test_size={config.test_size:g}, "
        f"random_state={config.split_random_state}, unstratified) over all rows"
    )


def hold_out_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation) positions in `range(n)`: a seeded random `fraction` (at least one)."""
    if fraction <= 0:
        return np.arange(n), np.arange(0)
    order = np.random.default_rng(seed).permutation(n)
    n_validation = max(1, round(fraction * n))
    return order[n_validation:], order[:n_validation]


def hold_out(beats: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation): a seeded random `fraction` of the rows (at least one) is held out."""
    fit, validation = hold_out_indices(len(beats), fraction, seed)
    return beats[fit], beats[validation]
