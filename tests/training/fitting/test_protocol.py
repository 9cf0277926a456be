"""The training protocol's rules: split, normalisation, validation slice, threshold, metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from app.inference.artifact import MinMaxNormalisation
from app.inference.scoring import denormalise, load_scorer, normalise, smooth
from training.artifacts.export import export_model
from training.config import TrainConfig
from training.data.sources import Dataset
from training.data.split import hold_out
from training.evaluation.metrics import evaluate, format_metrics
from training.fitting.model import build_autoencoder
from training.fitting.train import (
    TrainingError,
    TrainingResult,
    alignment_of,
    derive_examples,
    reconstruction_errors,
    summarise_errors,
    threshold_beats,
    threshold_from_errors,
    train,
)


@pytest.mark.parametrize("k", [0.0, 1.0, 2.5])
def test_threshold_is_mean_plus_k_std_of_the_errors(k: float) -> None:
    errors = np.array([0.01, 0.02, 0.03, 0.04, 0.10])
    threshold, rule = threshold_from_errors(errors, k)
    assert threshold == pytest.approx(errors.mean() + k * errors.std())
    assert rule.k == k
    summary = summarise_errors(errors)
    assert (summary.mean, summary.std, summary.n) == pytest.approx((errors.mean(), errors.std(), 5))
    assert summary.percentiles["100"] == pytest.approx(0.10)


def test_threshold_comes_from_all_training_normal_beats_shifted_as_if_cut_from_a_recording(
    tiny_result: TrainingResult, tiny_config: TrainConfig
) -> None:
    split = tiny_result.split
    normal_train = split.train_beats[split.train_is_normal]
    prepared = smooth(normalise(normal_train, tiny_result.normalisation), tiny_result.smoothing)
    np.testing.assert_allclose(
        tiny_result.train_errors, reconstruction_errors(tiny_result.model, prepared)
    )
    shifted = threshold_beats(normal_train, tiny_config)
    assert not np.allclose(shifted, normal_train)  # by up to `threshold_max_shift` samples
    expected, _ = threshold_from_errors(tiny_result.errors(shifted), tiny_config.threshold_k)
    assert tiny_result.threshold == pytest.approx(expected)
    assert tiny_result.training_errors.n == len(normal_train)


def test_without_shifts_the_threshold_beats_are_the_training_beats(
    tiny_result: TrainingResult, tiny_config: TrainConfig
) -> None:
    beats = tiny_result.split.train_beats
    assert threshold_beats(beats, replace(tiny_config, threshold_max_shift=0.0)) is beats
    as_fitted_unshifted = replace(tiny_config, max_shift=0.0, threshold_max_shift=None)
    assert threshold_beats(beats, as_fitted_unshifted) is beats


def test_threshold_beats_can_be_shifted_further_than_the_fitted_ones(
    tiny_result: TrainingResult, tiny_config: TrainConfig
) -> None:
    """`--threshold-max-shift`: the threshold's beats stand for beats cut from a recording, whose
    segmentation error may exceed the fitting's jitter."""
    beats = tiny_result.split.train_beats
    as_fitted = replace(tiny_config, max_shift=4.0, threshold_max_shift=None)
    np.testing.assert_array_equal(
        threshold_beats(beats, as_fitted),
        threshold_beats(beats, replace(as_fitted, threshold_max_shift=4.0)),
    )
    wider = threshold_beats(beats, replace(as_fitted, threshold_max_shift=8.0))
    moved = np.abs(threshold_beats(beats, as_fitted) - beats).mean()
    assert np.abs(wider - beats).mean() > moved > 0


def test_beats_are_scored_smoothed_as_the_model_directory_says(tiny_result: TrainingResult) -> None:
    assert tiny_result.smoothing is not None
    assert tiny_result.smoothing.window == TrainConfig().smoothing_window
    beats = tiny_result.split.test_beats
    unsmoothed = reconstruction_errors(
        tiny_result.model, normalise(beats, tiny_result.normalisation)
    )
    np.testing.assert_allclose(tiny_result.test_errors, tiny_result.errors(beats))
    assert not np.allclose(tiny_result.test_errors, unsmoothed)


def test_split_is_the_tutorial_split_over_all_rows(tiny_result: TrainingResult) -> None:
    dataset = tiny_result.dataset
    train_x, test_x, _, test_y = train_test_split(
        dataset.beats, dataset.is_normal, test_size=0.2, random_state=21
    )
    np.testing.assert_array_equal(tiny_result.split.train_beats, train_x)
    np.testing.assert_array_equal(tiny_result.split.test_beats, test_x)
    np.testing.assert_array_equal(tiny_result.split.test_is_normal, test_y)


def test_normalisation_is_fitted_on_the_training_normal_beats_only(
    synthetic_dataset, tiny_config: TrainConfig
) -> None:
    dataset = synthetic_dataset(n_normal=60, n_abnormal=30)
    train_rows, test_rows = train_test_split(
        np.arange(dataset.n_rows), test_size=0.2, random_state=21
    )
    # Abnormal beats and the test part reach further, so that fitting on them would show.
    beats = dataset.beats.copy()
    beats[~dataset.is_normal] *= 5.0
    beats[test_rows] *= 3.0
    train_normal = beats[train_rows][dataset.is_normal[train_rows]]
    result = train(replace(dataset, beats=beats), replace(tiny_config, epochs=1))
    assert result.normalisation == MinMaxNormalisation(
        min=float(train_normal.min()), max=float(train_normal.max())
    )
    assert result.normalisation.max < float(beats.max())


def test_validation_slice_is_seeded_and_disjoint_from_the_fitted_beats() -> None:
    beats = np.arange(200, dtype=np.float32).reshape(100, 2)
    fit, validation = hold_out(beats, 0.1, seed=3)
    assert (len(fit), len(validation)) == (90, 10)
    assert not set(fit[:, 0]) & set(validation[:, 0])
    np.testing.assert_array_equal(hold_out(beats, 0.1, seed=3)[1], validation)
    assert len(hold_out(beats, 0.0, seed=3)[1]) == 0


def test_normalise_and_denormalise_are_inverse() -> None:
    norm = MinMaxNormalisation(min=-4.0, max=6.0)
    beats = np.array([[-4.0, 1.0, 6.0]], dtype=np.float32)
    np.testing.assert_allclose(normalise(beats, norm), [[0.0, 0.5, 1.0]])
    np.testing.assert_allclose(denormalise(normalise(beats, norm), norm), beats, atol=1e-6)


def test_training_refuses_data_without_abnormal_beats_to_evaluate_on(
    synthetic_dataset, tiny_config: TrainConfig
) -> None:
    with pytest.raises(TrainingError, match="abnormal beats; at least 2 are needed"):
        train(synthetic_dataset(n_normal=50, n_abnormal=0), tiny_config)


def test_examples_are_derived_aggregates_on_their_side_of_the_threshold(
    tiny_result: TrainingResult,
) -> None:
    split = tiny_result.split
    normal = np.asarray(tiny_result.examples.normal, dtype=np.float32)
    abnormal = np.asarray(tiny_result.examples.abnormal, dtype=np.float32)
    expected_abnormal = split.train_beats[~split.train_is_normal].mean(axis=0)
    np.testing.assert_allclose(abnormal, expected_abnormal, atol=1e-5)
    errors = tiny_result.errors(np.stack([normal, abnormal]))
    assert errors[0] <= tiny_result.threshold < errors[1]
    rows = tiny_result.dataset.beats
    assert not np.any(np.all(np.isclose(rows, normal, atol=1e-6), axis=1))
    assert not np.any(np.all(np.isclose(rows, abnormal, atol=1e-6), axis=1))


def test_an_abnormal_example_the_model_scores_normal_is_left_out(
    tiny_result: TrainingResult,
) -> None:
    split, norm, model = tiny_result.split, tiny_result.normalisation, tiny_result.model
    mean_abnormal = split.train_beats[~split.train_is_normal].mean(axis=0, keepdims=True)
    abnormal_error = float(tiny_result.errors(mean_abnormal)[0])
    examples = derive_examples(model, split, norm, abnormal_error * 1.01, tiny_result.errors)
    assert examples.abnormal is None
    assert examples.normal == tiny_result.examples.normal


def test_a_normal_example_the_model_scores_abnormal_fails_training(
    tiny_result: TrainingResult,
) -> None:
    with pytest.raises(
        TrainingError, match=r"normal example scores .* it would be classified abnormal"
    ):
        derive_examples(
            tiny_result.model, tiny_result.split, tiny_result.normalisation, 0.0, tiny_result.errors
        )


def test_autoencoder_mirrors_the_encoder_and_ends_in_a_sigmoid() -> None:
    model = build_autoencoder(140, [32, 16, 8], dropout=0.1, input_noise=0.05, learning_rate=3e-4)
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert [layer.units for layer in dense] == [32, 16, 8, 16, 32, 140]
    assert dense[-1].activation.__name__ == "sigmoid"
    kinds = {layer.__class__.__name__ for layer in model.layers}
    assert {"GaussianNoise", "Dropout"} <= kinds
    assert float(model.optimizer.learning_rate) == pytest.approx(3e-4)


def test_plain_autoencoder_has_no_noise_or_dropout_layers() -> None:
    model = build_autoencoder(140, [32, 16, 8])
    kinds = {layer.__class__.__name__ for layer in model.layers}
    assert kinds == {"InputLayer", "Dense"}


def test_metrics_treat_abnormal_as_positive_and_the_threshold_as_normal() -> None:
    errors = np.array([0.1, 0.2, 0.5, 0.6, 0.5, 0.9])
    is_abnormal = np.array([False, False, False, True, True, True])
    metrics = evaluate(errors, is_abnormal, threshold=0.5)  # 0.5 is not above: normal
    cm = metrics.confusion_matrix
    assert (cm.true_negative, cm.false_positive, cm.false_negative, cm.true_positive) == (
        3,
        0,
        1,
        2,
    )
    assert metrics.accuracy == pytest.approx(5 / 6)
    assert metrics.precision == pytest.approx(1.0)
    assert metrics.recall == pytest.approx(2 / 3)
    assert metrics.f1 == pytest.approx(0.8)
    assert metrics.roc_auc == pytest.approx(8.5 / 9)  # from the raw scores, one tie


def test_metrics_table_is_aligned_and_shows_every_figure() -> None:
    errors = np.array([0.1, 0.2, 0.6, 0.9])
    metrics = evaluate(errors, np.array([False, False, True, True]), threshold=0.5)
    table = format_metrics(metrics, threshold=0.5)
    for label in ("accuracy", "precision", "recall", "F1", "ROC AUC", "threshold (MAE)"):
        assert label in table
    value_lines = table.splitlines()[1:8]
    assert len({len(line) for line in value_lines}) == 1, table


def test_an_aligning_model_is_scored_by_the_service_as_it_was_trained(
    tiny_config: TrainConfig, synthetic_dataset: Callable[..., Dataset], tmp_path: Path
) -> None:
    config = replace(tiny_config, align_max_shift=4.0, epochs=5)
    result = train(synthetic_dataset(), config)
    alignment = result.alignment
    assert alignment is not None and len(alignment.template) == 140
    assert alignment.max_shift == pytest.approx(4.0 * 139 / 204)  # recording to beat samples
    export_model(result, tmp_path / "model")
    scorer = load_scorer(tmp_path / "model")
    assert scorer.metadata.alignment == alignment
    beats = result.split.test_beats
    np.testing.assert_allclose(scorer.score(beats).errors, result.test_errors, rtol=1e-4)


@pytest.mark.parametrize(
    ("shift", "step", "message"),
    [
        (0.2, 0.5, r"up to 0.2 samples in steps of 0.5: step \(.*\) is larger than max_shift"),
        (150.0, 0.5, r"up to 150 samples in steps of 0.5: max_shift \(.*\) is half a beat or more"),
    ],
)
def test_alignment_it_cannot_apply_is_refused_before_training(
    tiny_config: TrainConfig,
    synthetic_dataset: Callable[..., Dataset],
    shift: float,
    step: float,
    message: str,
) -> None:
    config = replace(tiny_config, align_max_shift=shift, align_step=step)
    with pytest.raises(TrainingError, match=message):
        alignment_of(config, np.zeros((3, 140), dtype=np.float32), None)
    with pytest.raises(TrainingError, match=message):  # refused before any epoch is run
        train(synthetic_dataset(), replace(config, epochs=10_000, patience=10_000))
