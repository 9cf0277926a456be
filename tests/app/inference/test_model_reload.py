"""Reloading the model directory while serving: POST /v1/model/reload and SIGHUP."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.inference.artifact import METADATA_FILE, ONNX_FILE, read_metadata, write_metadata
from app.main import create_app

BEAT = [0.0] * 140
RELOAD_TIMEOUT_S = 15


@pytest.fixture
def served_copy(model_copy: Path) -> Iterator[TestClient]:
    """The service on a private copy of the shipped model, free to change under it."""
    with TestClient(create_app(Settings(model_dir=model_copy))) as client:
        yield client


def retrain_in_place(model_dir: Path, threshold: float = 0.05) -> str:
    """Make the directory look retrained: a new version, threshold and Swagger example."""
    metadata = read_metadata(model_dir)
    version = f"{metadata.model_version}-retrained-{threshold}"
    examples = metadata.examples.model_copy(update={"normal": [0.5] * metadata.input_length})
    write_metadata(
        model_dir,
        metadata.model_copy(
            update={"model_version": version, "threshold": threshold, "examples": examples}
        ),
    )
    read_metadata(model_dir)  # still a valid model directory
    return version


def test_reload_serves_a_model_retrained_in_place(
    served_copy: TestClient, model_copy: Path
) -> None:
    before = served_copy.get("/v1/model").json()
    version = retrain_in_place(model_copy, threshold=0.05)
    assert served_copy.get("/v1/model").json() == before  # nothing changes until asked

    response = served_copy.post("/v1/model/reload")

    assert response.status_code == 200
    assert response.json() == {
        "model_version": version,
        "previous_model_version": before["model_version"],
        "models": ["model"],  # the copy's directory name
    }
    after = served_copy.get("/v1/model").json()
    assert (after["model_version"], after["threshold"]) == (version, 0.05)
    predict = served_copy.post("/v1/predict", json={"beats": [BEAT]}).json()
    assert (predict["model_version"], predict["threshold"]) == (version, 0.05)
    assert served_copy.get("/ready").json()["model_version"] == version
    examples = served_copy.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]
    normal = examples["requestBody"]["content"]["application/json"]["examples"]["normal"]
    assert normal["value"] == {"beats": [[0.5] * 140]}  # the Swagger examples follow the model


def test_reload_of_an_unchanged_directory_serves_the_same_model(served_copy: TestClient) -> None:
    version = served_copy.get("/v1/model").json()["model_version"]
    response = served_copy.post("/v1/model/reload")
    assert response.json() == {
        "model_version": version,
        "previous_model_version": version,
        "models": ["model"],
    }


def _corrupt_onnx(model_dir: Path) -> str:
    with (model_dir / ONNX_FILE).open("ab") as handle:
        handle.write(b"\0")
    return f"{ONNX_FILE}: sha256"


def _remove_metadata(model_dir: Path) -> str:
    (model_dir / METADATA_FILE).unlink()
    return f"{METADATA_FILE}: missing"


def _invalid_threshold(model_dir: Path) -> str:
    document = json.loads((model_dir / METADATA_FILE).read_text())
    document["threshold"] = "high"
    (model_dir / METADATA_FILE).write_text(json.dumps(document))
    return f"{METADATA_FILE}: invalid at threshold"


def _wrong_input_length(model_dir: Path) -> str:
    metadata = read_metadata(model_dir)
    examples = metadata.examples.model_copy(update={"normal": [0.0] * 141, "abnormal": [0.0] * 141})
    write_metadata(
        model_dir, metadata.model_copy(update={"input_length": 141, "examples": examples})
    )
    return f"{ONNX_FILE}: model input has 140 samples per beat"


@pytest.mark.parametrize(
    "damage", [_corrupt_onnx, _remove_metadata, _invalid_threshold, _wrong_input_length]
)
def test_reload_of_a_broken_directory_keeps_the_old_model_and_says_why(
    served_copy: TestClient, model_copy: Path, damage: Callable[[Path], str]
) -> None:
    before = served_copy.get("/v1/model").json()
    expected = damage(model_copy)

    response = served_copy.post("/v1/model/reload")

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Model reload failed"
    assert problem["errors"][0]["location"] == "ECG_MODEL_DIR"
    assert expected in problem["detail"]
    assert str(model_copy) not in problem["detail"]  # no server path reaches a client
    assert f"model {before['model_version']} keeps serving" in problem["detail"]
    assert served_copy.get("/v1/model").json() == before
    assert served_copy.post("/v1/predict", json={"beats": [BEAT]}).status_code == 200


def test_request_in_flight_keeps_the_model_it_started_with(
    served_copy: TestClient, model_copy: Path, asgi_request: Callable[..., Any]
) -> None:
    """A reload lands while /v1/predict waits for its body: that request still answers with the
    model it took, and the next one gets the new model."""
    old_version = served_copy.get("/v1/model").json()["model_version"]
    new_version = retrain_in_place(model_copy)
    app = served_copy.app

    async def no_body() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def body_after_a_reload() -> dict[str, Any]:
        reload = await asgi_request(app, "POST", "/v1/model/reload", no_body)
        assert reload[0]["status"] == 200
        return {"type": "http.request", "body": json.dumps({"beats": [BEAT]}).encode()}

    assert served_copy.portal is not None
    predict = served_copy.portal.call(asgi_request, app, "POST", "/v1/predict", body_after_a_reload)
    assert predict[0]["status"] == 200
    assert json.loads(predict[1]["body"])["model_version"] == old_version
    after = served_copy.post("/v1/predict", json={"beats": [BEAT]}).json()
    assert after["model_version"] == new_version


def test_sighup_reloads_the_model_of_the_running_server(
    serve: Callable[..., Any], model_copy: Path
) -> None:
    server = serve(model_copy)
    before = server.get_json("/v1/model")["model_version"]

    version = retrain_in_place(model_copy, threshold=0.05)
    server.process.send_signal(signal.SIGHUP)
    _wait_for(lambda: server.get_json("/v1/model")["model_version"] == version)
    assert server.get_json("/v1/model")["threshold"] == 0.05

    _corrupt_onnx(model_copy)  # a failed reload leaves the retrained model serving
    server.process.send_signal(signal.SIGHUP)
    time.sleep(1)
    assert server.get_json("/v1/model")["model_version"] == version
    assert server.process.poll() is None

    log = server.stop()
    assert f"SIGHUP: serving model {version} (was {before})" in log
    assert f"SIGHUP: model reload failed, still serving {version}: " in log
    assert f"{model_copy / ONNX_FILE}: sha256" in log
    assert "Traceback" not in log


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + RELOAD_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not reloaded within {RELOAD_TIMEOUT_S}s")
        time.sleep(0.1)
