"""Threshold rules in training: the options, the calibration slice, what metadata.json records."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from app.inference.artifact import Calibrated, MeanPlusKStd, ModelMetadata, Percentile
from training.artifacts.export import build_metadata
from training.cli.options import config_from_args
from training.cli.train import build_parser
from training.config import TrainConfig
from training.evaluation.metrics import evaluate
from training.fitting.thresholds import calibrated_threshold, percentile_threshold
from training.fitting.train import (
    TrainingResult,
    choose_threshold,
    train,
)


def test_calibration_slice_is_the_training_part_normals_and_abnormals(
    tiny_result: TrainingResult,
) -> None:
    split, calibration, dataset = tiny_result.split, tiny_result.calibration, tiny_result.dataset
    np.testing.assert_array_equal(calibration.normal_rows, split.train_rows[split.train_is_normal])
    np.testing.assert_array_equal(
        calibration.abnormal_rows, split.train_rows[~split.train_is_normal]
    )
    assert dataset.is_normal[calibration.normal_rows].all()
    assert not dataset.is_normal[calibration.abnormal_rows].any()
    calibration_rows = {*calibration.normal_rows, *calibration.abnormal_rows}
    assert not calibration_rows & set(split.test_rows), "calibration must not touch the test split"
    assert calibration_rows <= set(split.train_rows)


def test_calibration_errors_are_those_of_the_slice_rows(tiny_result: TrainingResult) -> None:
    calibration, dataset = tiny_result.calibration, tiny_result.dataset
    for rows, errors in (
        (calibration.normal_rows, calibration.normal_errors),
        (calibration.abnormal_rows, calibration.abnormal_errors),
    ):
        # float32 errors of the same beats in batches of other sizes: equal to ~1e-6, not exactly
        np.testing.assert_allclose(errors, tiny_result.errors(dataset.beats[rows]), rtol=1e-5)


def test_calibrated_threshold_does_not_depend_on_the_test_rows(
    synthetic_dataset, tiny_config: TrainConfig
) -> None:
    dataset = synthetic_dataset(n_normal=120, n_abnormal=60)
    config = replace(tiny_config, epochs=3, threshold_rule="calibrated")
    first = train(dataset, config)
    beats = dataset.beats.copy()
    beats[first.split.test_rows] *= 3.0  # wildly different test beats, same training part
    second = train(replace(dataset, beats=beats), config)
    assert second.threshold == first.threshold
    assert second.threshold_rule == first.threshold_rule
    assert not np.allclose(second.test_errors, first.test_errors)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, MeanPlusKStd(k=1.0)),
        ({"threshold_k": 2.5}, MeanPlusKStd(k=2.5)),
        (
            {"threshold_rule": "percentile", "threshold_percentile": 97.5},
            Percentile(percentile=97.5),
        ),
    ],
)
def test_rules_on_the_training_normal_errors(
    tiny_result: TrainingResult, options: dict[str, object], expected: object
) -> None:
    config = replace(tiny_result.config, **options)
    threshold, rule = choose_threshold(config, tiny_result.train_errors, tiny_result.calibration)
    assert rule == expected
    errors = tiny_result.train_errors
    if isinstance(rule, MeanPlusKStd):
        assert threshold == pytest.approx(errors.mean() + rule.k * errors.std(), rel=1e-12)
    else:
        assert threshold == percentile_threshold(errors, 97.5)


@pytest.mark.parametrize(
    ("calibrate_for", "objective", "target"),
    [("f1", "max_f1", None), ("false-alarm-rate", "false_alarm_rate", 0.1)],
)
def test_calibrated_rule_records_the_slice_and_what_it_achieves(
    tiny_result: TrainingResult, calibrate_for: str, objective: str, target: float | None
) -> None:
    config = replace(
        tiny_result.config,
        threshold_rule="calibrated",
        calibrate_for=calibrate_for,
        target_false_alarm_rate=0.1,
    )
    calibration = tiny_result.calibration
    threshold, rule = choose_threshold(config, tiny_result.train_errors, calibration)
    expected = calibrated_threshold(
        calibration.normal_errors, calibration.abnormal_errors, objective, target
    )
    assert threshold == expected.threshold
    assert isinstance(rule, Calibrated)
    assert (rule.objective, rule.target_false_alarm_rate) == (objective, target)
    assert (rule.n_normal, rule.n_abnormal) == (
        len(calibration.normal_rows),
        len(calibration.abnormal_rows),
    )
    assert (rule.achieved.f1, rule.achieved.false_alarm_rate) == (
        expected.f1,
        expected.false_alarm_rate,
    )


@pytest.mark.parametrize(
    "options",
    [
        {"threshold_rule": "percentile", "threshold_percentile": 95.0},
        {"threshold_rule": "calibrated", "calibrate_for": "f1"},
        {"threshold_rule": "calibrated", "calibrate_for": "false-alarm-rate"},
    ],
)
def test_metadata_records_each_rule_and_the_training_errors(
    tiny_result: TrainingResult, tiny_model_dir: Path, options: dict[str, object]
) -> None:
    config = replace(tiny_result.config, **options)
    threshold, rule = choose_threshold(config, tiny_result.train_errors, tiny_result.calibration)
    result = replace(tiny_result, config=config, threshold=threshold, threshold_rule=rule)
    metrics = evaluate(result.test_errors, ~result.split.test_is_normal, threshold)
    created = datetime(2025, 1, 1, tzinfo=UTC)
    metadata = build_metadata(result, metrics, tiny_model_dir, created)
    reread = ModelMetadata.model_validate_json(metadata.model_dump_json())
    assert reread.threshold == threshold
    assert reread.threshold_rule == rule
    assert reread.threshold_rule.name == str(options["threshold_rule"])
    assert reread.training_errors == tiny_result.training_errors
    assert reread.training_errors.n == len(tiny_result.train_errors)


def test_train_cli_options_select_the_rule() -> None:
    calibrated = ["--threshold-rule", "calibrated", "--calibrate-for", "false-alarm-rate"]
    args = build_parser().parse_args(
        ["--data", "x.csv", "--output", "m", *calibrated, "--target-false-alarm-rate", "0.02"]
    )
    config = config_from_args(args)
    assert (config.threshold_rule, config.calibrate_for) == ("calibrated", "false-alarm-rate")
    assert config.target_false_alarm_rate == 0.02
    defaults = config_from_args(build_parser().parse_args(["--data", "x", "--output", "m"]))
    assert defaults == TrainConfig()


def test_a_rule_calibrated_on_the_weighted_slice_before_still_loads() -> None:
    """Models calibrated on the early-stopping slice alone recorded its normal beats' weight; their
    metadata.json still loads and says so, and today's rules record none (1)."""
    achieved = {"precision": 0.97, "recall": 0.99, "f1": 0.98, "false_alarm_rate": 0.02}
    before = Calibrated.model_validate(
        {
            "objective": "max_f1",
            "n_normal": 234,
            "n_abnormal": 1656,
            "normal_weight": 10.0,
            "achieved": {**achieved, "accuracy": 0.985},
        }
    )
    assert "(normal beats weighted x10)" in before.describe()
    today = Calibrated.model_validate({**before.model_dump(), "normal_weight": 1.0})
    assert "weighted" not in today.describe()
