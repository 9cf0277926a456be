"""An ensemble: several autoencoders fitted from different seeds, served as one averaging model."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from app.inference.artifact import read_metadata
from app.inference.scoring import load_scorer, normalise
from tests.training.conftest import synthetic_dataset
from training.artifacts.export import export_model
from training.config import ModelConfig, TrainConfig
from training.fitting.model import average_of, build_from_config
from training.fitting.train import TrainingResult, reconstruct, train


@pytest.fixture(scope="module")
def ensemble_result(tiny_config: TrainConfig) -> TrainingResult:
    """Two small autoencoders, trimmed from epoch 3 on, as the shipped recipe trims them."""
    two = ModelConfig(hidden_units=(32, 8), ensemble_size=2)
    config = replace(tiny_config, model=two, epochs=8, trim_fraction=0.02, trim_warmup=2)
    return train(synthetic_dataset(), config)


def test_a_single_autoencoder_is_served_as_it_is() -> None:
    model = build_from_config(140, ModelConfig(hidden_units=(16, 4)))
    assert average_of([model], 140) is model


def test_ensemble_reconstructs_the_mean_of_its_members(ensemble_result: TrainingResult) -> None:
    beats = normalise(ensemble_result.dataset.beats[:20], ensemble_result.normalisation)
    first, second = (reconstruct(member.model, beats) for member in ensemble_result.members)
    assert not np.allclose(first, second, atol=1e-3)  # different seeds, different members
    np.testing.assert_allclose(
        reconstruct(ensemble_result.model, beats), (first + second) / 2, atol=1e-6
    )


def test_ensemble_members_have_their_own_seeds_and_histories(
    ensemble_result: TrainingResult,
) -> None:
    assert [member.seed for member in ensemble_result.members] == [7, 1007]
    # patience 20 never stops an 8-epoch run: each member trains all 8, and the run counts both
    assert [member.epochs_run for member in ensemble_result.members] == [8, 8]
    assert ensemble_result.epochs_run == 16
    for member in ensemble_result.members:
        assert 1 <= member.best_epoch <= member.epochs_run == len(member.history["val_loss"])


def test_exported_ensemble_is_one_onnx_model_that_scores_like_keras(
    ensemble_result: TrainingResult, tmp_path: Path
) -> None:
    target = tmp_path / "model"
    export_model(ensemble_result, target, created_at=datetime(2025, 3, 4, tzinfo=UTC))
    hyperparameters = read_metadata(target).training.hyperparameters
    assert hyperparameters["ensemble_size"] == 2
    assert hyperparameters["member_seeds"] == [7, 1007]
    assert hyperparameters["member_best_epochs"] == [m.best_epoch for m in ensemble_result.members]
    beats = ensemble_result.dataset.beats[:20]
    scores = load_scorer(target).score(beats)
    expected = reconstruct(ensemble_result.model, scores.normalised)  # the beats, smoothed
    np.testing.assert_allclose(scores.reconstructions, expected, atol=1e-5)
