"""Many models at once: ECG_MODELS_DIR served by name beside the default, and reloaded whole."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.inference.artifact import METADATA_FILE, ArtifactError, read_metadata
from app.inference.registry import load_registry
from app.main import create_app

BEAT = {"beats": [[0.0] * 140]}


def model_copy(shipped: Path, folder: Path, name: str, threshold: float | None = None) -> Path:
    target = Path(shutil.copytree(shipped, folder / name))
    if threshold is not None:  # another model, as far as its verdicts go
        metadata = json.loads((target / METADATA_FILE).read_text())
        metadata["threshold"] = threshold
        (target / METADATA_FILE).write_text(json.dumps(metadata))
    return target


@pytest.fixture
def models_dir(shipped_model_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    model_copy(shipped_model_dir, folder, "alpha", threshold=0.5)
    model_copy(shipped_model_dir, folder, "beta", threshold=0.001)
    (folder / "notes").mkdir()  # not a model directory: left alone
    return folder


def test_every_model_directory_is_served_by_name(shipped_model_dir: Path, models_dir: Path) -> None:
    settings = Settings(model_dir=shipped_model_dir, models_dir=models_dir)
    with TestClient(create_app(settings)) as client:
        listing = client.get("/v1/models").json()
        assert listing["default"] == "ecg5000"
        assert [model["name"] for model in listing["models"]] == ["alpha", "beta", "ecg5000"]
        assert all(
            model["provenance"]["dataset"].startswith("ECG5000") for model in listing["models"]
        )
        assert client.get("/v1/models/alpha").json()["threshold"] == 0.5
        alpha = client.post("/v1/models/alpha/predict", json=BEAT).json()
        beta = client.post("/v1/models/beta/predict", json=BEAT).json()
        assert (alpha["threshold"], beta["threshold"]) == (0.5, 0.001)
        shipped_threshold = read_metadata(shipped_model_dir).threshold
        assert client.post("/v1/predict", json=BEAT).json()["threshold"] == shipped_threshold
        csv = client.post(
            "/v1/models/alpha/predict/csv",
            content=",".join(["0"] * 140),
            headers={"content-type": "text/csv"},
        )
        assert csv.status_code == 200 and csv.json()["threshold"] == 0.5
        names = client.get("/openapi.json").json()["paths"]["/v1/models/{model_name}/predict"][
            "post"
        ]
        assert names["parameters"][0]["schema"]["enum"] == ["alpha", "beta", "ecg5000"]
        metrics = client.get("/metrics").text
        assert 'ecg_beats_scored_total{model="alpha"} 2.0' in metrics
        assert 'ecg_beats_scored_total{model="beta"} 1.0' in metrics


def test_unknown_model_is_404_naming_the_models(shipped_model_dir: Path, models_dir: Path) -> None:
    settings = Settings(model_dir=shipped_model_dir, models_dir=models_dir)
    with TestClient(create_app(settings)) as client:
        for response in (
            client.post("/v1/models/gamma/predict", json=BEAT),
            client.get("/v1/models/gamma"),
        ):
            assert response.status_code == 404
            assert "the models are alpha, beta, ecg5000" in response.json()["detail"]


def test_default_model_is_configurable(shipped_model_dir: Path, models_dir: Path) -> None:
    settings = Settings(model_dir=shipped_model_dir, models_dir=models_dir, default_model="alpha")
    with TestClient(create_app(settings)) as client:
        assert client.post("/v1/predict", json=BEAT).json()["threshold"] == 0.5
        assert client.get("/v1/models").json()["default"] == "alpha"


def test_reload_picks_up_added_changed_and_removed_models(
    shipped_model_dir: Path, models_dir: Path
) -> None:
    settings = Settings(model_dir=shipped_model_dir, models_dir=models_dir)
    with TestClient(create_app(settings)) as client:
        model_copy(shipped_model_dir, models_dir, "gamma", threshold=0.2)
        shutil.rmtree(models_dir / "alpha")
        metadata = json.loads((models_dir / "beta" / METADATA_FILE).read_text())
        metadata["threshold"] = 0.3
        (models_dir / "beta" / METADATA_FILE).write_text(json.dumps(metadata))
        reloaded = client.post("/v1/model/reload").json()
        assert reloaded["models"] == ["beta", "ecg5000", "gamma"]
        assert client.post("/v1/models/gamma/predict", json=BEAT).json()["threshold"] == 0.2
        assert client.post("/v1/models/beta/predict", json=BEAT).json()["threshold"] == 0.3
        assert client.post("/v1/models/alpha/predict", json=BEAT).status_code == 404


def test_reload_that_finds_a_broken_model_keeps_every_model_serving(
    shipped_model_dir: Path, models_dir: Path
) -> None:
    settings = Settings(model_dir=shipped_model_dir, models_dir=models_dir)
    with TestClient(create_app(settings)) as client:
        (models_dir / "beta" / "model.onnx").write_bytes(b"not a model")
        response = client.post("/v1/model/reload")
        assert response.status_code == 409 and "beta" in response.json()["detail"]
        assert client.post("/v1/models/beta/predict", json=BEAT).json()["threshold"] == 0.001


def test_two_model_directories_of_one_name_are_refused(
    shipped_model_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "models"
    folder.mkdir()
    model_copy(shipped_model_dir, folder, "ecg5000")  # the default's name, another directory
    with pytest.raises(ArtifactError, match="two model directories are named 'ecg5000'"):
        load_registry(Settings(model_dir=shipped_model_dir, models_dir=folder))


def test_recordings_can_be_addressed_to_a_model(
    shipped_model_dir: Path, models_dir: Path, record_100
) -> None:
    settings = Settings(model_dir=shipped_model_dir, models_dir=models_dir)
    with TestClient(create_app(settings)) as client:
        files = record_100.uploads("100.hea", "100.dat")
        result = client.post("/v1/models/alpha/recordings", files=files).json()
        assert result["summary"]["threshold"] == 0.5
        assert 'ecg_beats_scored_total{model="alpha"}' in client.get("/metrics").text
