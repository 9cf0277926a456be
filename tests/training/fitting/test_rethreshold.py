"""`ecg-train --from-model`: an exported model's threshold taken again, its network kept."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from app.inference.artifact import ONNX_FILE, MeanPlusKStd, read_metadata
from app.inference.scoring import load_scorer
from training.artifacts.rethreshold import export_rethresholded
from training.config import TrainConfig
from training.data.sources import Dataset, load_beats
from training.fitting.rethreshold import retake_threshold
from training.fitting.train import TrainingError, TrainingResult

THRESHOLD_FILES = ("metadata.json", "thresholds.csv", "error_histogram.png")


def test_rethresholding_by_the_models_own_rule_gives_its_threshold_back(
    tiny_model_dir: Path, tiny_result: TrainingResult, tiny_config: TrainConfig
) -> None:
    result = retake_threshold(tiny_model_dir, tiny_result.dataset, tiny_config)
    # the service's ONNX errors, not Keras's: equal to float32 rounding
    assert result.threshold == pytest.approx(tiny_result.threshold, rel=1e-5)
    assert result.examples.normal == tiny_result.examples.normal


def test_rethresholding_by_another_rule_moves_the_threshold(
    tiny_model_dir: Path, tiny_result: TrainingResult, tiny_config: TrainConfig
) -> None:
    stricter = retake_threshold(
        tiny_model_dir, tiny_result.dataset, replace(tiny_config, threshold_k=3)
    )
    assert stricter.threshold > tiny_result.threshold * 1.01
    assert stricter.threshold_rule.describe().startswith("mean + 3 * std")


def test_calibrated_rule_taken_again_gives_the_threshold_training_calibrated(
    tiny_model_dir: Path, tiny_config: TrainConfig, synthetic_dataset
) -> None:
    from training.fitting.train import train

    calibrated = replace(tiny_config, threshold_rule="calibrated")
    dataset: Dataset = synthetic_dataset()
    trained = train(dataset, calibrated)  # the same network as tiny_model_dir's, seed for seed
    retaken = retake_threshold(tiny_model_dir, dataset, calibrated)
    assert retaken.threshold == pytest.approx(trained.threshold, rel=1e-5)


def test_rethresholded_model_keeps_the_network_and_names_where_it_came_from(
    tiny_model_dir: Path, tiny_result: TrainingResult, tiny_config: TrainConfig, tmp_path: Path
) -> None:
    target = tmp_path / "model"
    config = replace(tiny_config, threshold_max_shift=0.0, threshold_k=2)
    exported = export_rethresholded(
        retake_threshold(tiny_model_dir, tiny_result.dataset, config), target
    )
    source = read_metadata(tiny_model_dir)
    metadata = read_metadata(target)  # the service's own check passes
    assert (target / ONNX_FILE).read_bytes() == (tiny_model_dir / ONNX_FILE).read_bytes()
    assert metadata.training.network_from == source.model_version
    assert metadata.model_version != source.model_version
    assert metadata.threshold == exported.metadata.threshold != source.threshold
    assert metadata.training.hyperparameters["threshold_max_shift"] == 0.0
    assert metadata.training.seed == source.training.seed
    assert metadata.normalisation == source.normalisation
    # the report is of the new threshold: its accuracy is the held-out beats' at it
    split = tiny_result.split
    flagged = load_scorer(target).score(split.test_beats).errors > metadata.threshold
    assert metadata.metrics is not None
    assert metadata.metrics.accuracy == pytest.approx(np.mean(flagged == ~split.test_is_normal))
    for name in THRESHOLD_FILES:
        assert (target / name).read_bytes() != (tiny_model_dir / name).read_bytes()


def test_rethresholding_refuses_data_the_model_was_not_trained_on(
    tiny_model_dir: Path, tiny_config: TrainConfig, synthetic_dataset
) -> None:
    other: Dataset = replace(synthetic_dataset(seed=3), sha256="1" * 64, source="other.csv")
    with pytest.raises(TrainingError, match=r"trained on synthetic .*not on other\.csv"):
        retake_threshold(tiny_model_dir, other, tiny_config)


def test_rethresholding_refuses_a_directory_that_is_not_a_model(
    tmp_path: Path, tiny_result: TrainingResult, tiny_config: TrainConfig
) -> None:
    with pytest.raises(TrainingError, match=r"--from-model: .*metadata\.json"):
        retake_threshold(tmp_path, tiny_result.dataset, tiny_config)


def test_shipped_model_rethresholded_by_its_own_rule_keeps_its_figures(
    shipped_model_dir: Path, shipped_training_csv: Path, tmp_path: Path
) -> None:
    """The shipped model's threshold (taken by training, with Keras scoring the beats), taken
    again from its own data by the rule its metadata records, through the service's ONNX path:
    the same threshold to float32 rounding, the same examples and held-out metrics. So
    `--from-model` takes a threshold the way training does, and moves a model to another rule
    without moving anything else."""
    metadata = read_metadata(shipped_model_dir)
    shift = metadata.training.hyperparameters["threshold_max_shift"]
    assert isinstance(metadata.threshold_rule, MeanPlusKStd) and isinstance(shift, float)
    config = TrainConfig(threshold_k=metadata.threshold_rule.k, threshold_max_shift=shift)
    result = retake_threshold(shipped_model_dir, load_beats(shipped_training_csv), config)
    assert result.threshold == pytest.approx(metadata.threshold, rel=1e-6)
    assert result.training_errors.n == metadata.training_errors.n
    assert result.examples == metadata.examples
    exported = export_rethresholded(result, tmp_path / "model").metadata
    assert exported.metrics is not None and metadata.metrics is not None
    assert exported.metrics == metadata.metrics  # the same verdicts on the same 1,000 beats
