"""Trimmed training: the worst-reconstructed fitted beats stop counting, and the model shows it."""

from __future__ import annotations

from dataclasses import replace

import keras
import numpy as np

from app.inference.scoring import normalise
from tests.training.conftest import synthetic_beats
from training.config import ModelConfig, TrainConfig
from training.data.sources import Dataset
from training.fitting.train import reconstruction_errors, train
from training.fitting.trimming import TrimWorstBeats, WeightedBeats


def batches(data: WeightedBeats) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return [data[index] for index in range(len(data))]


def test_weighted_beats_cover_every_beat_once_per_epoch_in_a_new_order() -> None:
    beats = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    data = WeightedBeats(beats, batch_size=4, seed=1)
    first = batches(data)
    assert [len(x) for x, _, _ in first] == [4, 4, 2]
    for x, y, weight in first:
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(weight, np.ones(len(x)))
    rows = np.concatenate([x for x, _, _ in first])
    np.testing.assert_array_equal(np.sort(rows[:, 0]), beats[:, 0])
    data.on_epoch_end()
    second = np.concatenate([x for x, _, _ in batches(data)])
    np.testing.assert_array_equal(np.sort(second[:, 0]), beats[:, 0])
    assert not np.array_equal(second, rows)


def test_weighted_beats_step_a_fraction_of_the_beats_without_changing_the_order() -> None:
    beats, _ = synthetic_beats(200, 0)
    plain = WeightedBeats(beats, batch_size=64, seed=3, max_shift=2.0)
    stepped = WeightedBeats(
        beats, batch_size=64, seed=3, max_shift=2.0, step_height=3.0, step_fraction=0.3
    )
    for _epoch in range(2):
        plain_x = np.concatenate([x for x, _, _ in batches(plain)])
        stepped_batches = batches(stepped)
        stepped_x = np.concatenate([x for x, _, _ in stepped_batches])
        targets = np.concatenate([y for _, y, _ in stepped_batches])
        np.testing.assert_array_equal(stepped_x, targets)
        changed = np.abs(stepped_x - plain_x).max(axis=1) > 1e-4
        assert 0.15 < changed.mean() < 0.45  # about 30%, the rest as the plain run gives them
        np.testing.assert_allclose(stepped_x[~changed], plain_x[~changed], atol=1e-4)
        plain.on_epoch_end()
        stepped.on_epoch_end()


def test_trimming_starts_after_the_warm_up_and_zeroes_the_worst_fraction() -> None:
    beats = np.zeros((50, 3), dtype=np.float32)
    data = WeightedBeats(beats, batch_size=8, seed=0)
    errors = np.linspace(0.0, 1.0, 50)
    trim = TrimWorstBeats(data, fraction=0.1, warmup=3, errors_of=lambda model, x: errors)
    trim.set_model(keras.Sequential())
    trim.on_epoch_end(epoch=1)  # the second epoch: still warming up
    assert data.weights.sum() == 50
    trim.on_epoch_end(epoch=2)
    np.testing.assert_array_equal(data.weights, (np.arange(50) < 45).astype(np.float32))
    errors = errors[::-1].copy()  # other beats are now the worst: the trimmed set follows them
    trim.on_epoch_end(epoch=3)
    np.testing.assert_array_equal(data.weights, (np.arange(50) >= 5).astype(np.float32))


def test_trimmed_training_leaves_odd_normal_beats_unlearned() -> None:
    """Normal beats with a few upside-down ones among them, labelled normal like the rest."""
    normal, _ = synthetic_beats(300, 0, seed=3)
    upside_down = -synthetic_beats(6, 0, seed=4)[0]
    abnormal, _ = synthetic_beats(0, 60, seed=5)
    beats = np.vstack([normal, upside_down, abnormal])
    is_normal = np.arange(len(beats)) < 306
    dataset = Dataset(beats, is_normal, sha256="0" * 64, source="synthetic", layout="csv")
    one = ModelConfig(ensemble_size=1)  # the effect of trimming on a single autoencoder
    config = TrainConfig(
        model=one, epochs=40, batch_size=32, patience=40, seed=7, trim_warmup=5, candidates=1
    )

    def odd_to_typical_error_ratio(trim_fraction: float) -> float:
        result = train(dataset, replace(config, trim_fraction=trim_fraction))
        errors = reconstruction_errors(result.model, normalise(beats, result.normalisation))
        return float(np.median(errors[300:306]) / np.median(errors[:300]))

    assert odd_to_typical_error_ratio(0.05) > 3 * odd_to_typical_error_ratio(0.0)


def test_training_shorter_than_the_warm_up_keeps_its_last_epoch(synthetic_dataset) -> None:
    two = ModelConfig(ensemble_size=2)
    config = TrainConfig(
        two, epochs=3, batch_size=32, seed=7, trim_fraction=0.02, trim_warmup=10, candidates=1
    )
    result = train(synthetic_dataset(), config)
    assert [(member.epochs_run, member.best_epoch) for member in result.members] == [(3, 3)] * 2


def test_trimmed_count_rounds_the_fraction_of_the_beats() -> None:
    data = WeightedBeats(np.zeros((40, 3), dtype=np.float32), batch_size=8, seed=0)
    errors = np.arange(40.0)
    TrimWorstBeats(data, fraction=0.02, warmup=1, errors_of=lambda model, x: errors).on_epoch_end(0)
    assert data.weights.sum() == 39  # 0.8 of a beat rounds to one: the worst
    assert data.weights[-1] == 0
