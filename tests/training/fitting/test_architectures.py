"""Every autoencoder family trains on real beats, exports to ONNX, and the TensorFlow-free
service scores it as TensorFlow does; metadata and GET /v1/model name the family."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.inference.artifact import read_metadata
from app.main import create_app
from training.artifacts.export import export_model
from training.config import ARCHITECTURES, ModelConfig, TrainConfig
from training.data.sources import Dataset, load_beats
from training.fitting.train import TrainingResult, train

# Small real data: the first 600 rows of ECG5000 (2,000 for the slower-learning LSTM), a few
# epochs each; enough for both classes to land on their side of the threshold (the trainer checks
# its Swagger examples do).
N_ROWS = 600
N_ROWS_LSTM = 2000
QUICK = TrainConfig(
    ModelConfig(
        ensemble_size=1, hidden_units=(32, 16, 8), conv_filters=(8, 4), code_size=8,
        learning_rate=3e-3,
    ),
    epochs=15, batch_size=64, patience=5, trim_fraction=0.0, max_shift=2.0, seed=3,
    candidates=1,
)  # fmt: skip


@pytest.fixture(scope="module")
def real_data(ecg_csv: Path) -> Dataset:
    return load_beats(ecg_csv)


def first_rows(dataset: Dataset, n: int) -> Dataset:
    return replace(dataset, beats=dataset.beats[:n], is_normal=dataset.is_normal[:n])


def trained(dataset: Dataset, architecture: str) -> TrainingResult:
    model = replace(QUICK.model, architecture=architecture)
    if architecture == "lstm":
        config = replace(QUICK, model=model, epochs=25, max_shift=0.0)
        return train(first_rows(dataset, N_ROWS_LSTM), config)
    return train(first_rows(dataset, N_ROWS), replace(QUICK, model=model))


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_each_family_is_served_as_tensorflow_scores_it(
    architecture: str, real_data: Dataset, tmp_path: Path
) -> None:
    result = trained(real_data, architecture)
    model_dir = tmp_path / architecture
    export_model(result, model_dir)
    metadata = read_metadata(model_dir)
    assert metadata.training.architecture == architecture
    assert metadata.training.hyperparameters["architecture"] == architecture

    test_beats = result.split.test_beats
    tensorflow_errors = result.errors(test_beats)  # Keras, through the smoothing
    with TestClient(create_app(Settings(model_dir=model_dir))) as client:
        info = client.get("/v1/model").json()
        served = client.post("/v1/predict", json={"beats": test_beats.tolist()}).json()
    assert info["architecture"] == architecture
    assert info["hyperparameters"] == metadata.training.hyperparameters
    served_errors = np.array([row["reconstruction_error"] for row in served["results"]])
    np.testing.assert_allclose(served_errors, tensorflow_errors, rtol=1e-4, atol=1e-6)
    assert tensorflow_errors.std() > 0  # a model that reconstructs, not a constant


def test_family_options_reach_the_metadata(real_data: Dataset, tmp_path: Path) -> None:
    result = trained(real_data, "sparse")
    export_model(result, tmp_path / "sparse")
    hyperparameters = read_metadata(tmp_path / "sparse").training.hyperparameters
    assert hyperparameters["sparsity_l1"] == QUICK.model.sparsity_l1
    assert hyperparameters["hidden_units"] == [32, 16, 8]
    assert "lstm_units" not in hyperparameters  # only the family's own
    assert hyperparameters["max_shift"] == 2.0


def test_mixed_ensemble_is_served_as_tensorflow_scores_it(
    real_data: Dataset, tmp_path: Path
) -> None:
    """A sparse and a convolutional autoencoder, averaged: one ONNX model, both families named."""
    mixed = ModelConfig.of_families(("sparse", "conv"), **_quick_fields())
    result = train(first_rows(real_data, N_ROWS), replace(QUICK, model=mixed))
    export_model(result, tmp_path / "mixed")
    training = read_metadata(tmp_path / "mixed").training
    assert training.architecture == "sparse+conv"
    assert training.hyperparameters["member_architectures"] == ["sparse", "conv"]
    assert {"sparsity_l1", "conv_filters"} <= training.hyperparameters.keys()
    test_beats = result.split.test_beats
    tensorflow_errors = result.errors(test_beats)  # Keras, through the smoothing
    with TestClient(create_app(Settings(model_dir=tmp_path / "mixed"))) as client:
        info = client.get("/v1/model").json()
        served = client.post("/v1/predict", json={"beats": test_beats.tolist()}).json()
    assert info["architecture"] == "sparse+conv"
    assert info["model_version"].startswith("ecg5000-sparse+conv-")
    served_errors = np.array([row["reconstruction_error"] for row in served["results"]])
    np.testing.assert_allclose(served_errors, tensorflow_errors, rtol=1e-4, atol=1e-6)


def _quick_fields() -> dict[str, object]:
    """QUICK's model settings other than the family and the ensemble."""
    fields = dict(vars(QUICK.model))
    for name in ("architecture", "ensemble_size", "mix"):
        fields.pop(name)
    return fields


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"architecture": "sparse", "mix": ("sparse",)}, "two families or more"),
        ({"architecture": "dense", "mix": ("sparse", "conv"), "ensemble_size": 2}, "the first"),
        ({"architecture": "sparse", "mix": ("sparse", "conv"), "ensemble_size": 3}, "multiple"),
    ],
)
def test_inconsistent_mix_is_refused(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ModelConfig(**fields)  # type: ignore[arg-type]
