"""The Open Inference Protocol (KServe V2), driven by the standard client, `tritonclient[http]`,
against a real server on loopback, exactly as a KServe or Triton user would call it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from fastapi.testclient import TestClient
from pydantic import SecretStr
from tritonclient.utils import InferenceServerException

from app.config import Settings
from app.inference.scoring import load_scorer
from app.main import create_app

MODEL = "ecg-anomaly"


@pytest.fixture(scope="module")
def server_url(serve_for_module: Callable[..., Any], shipped_model_dir: Path) -> str:
    return str(serve_for_module(shipped_model_dir).base_url)


@pytest.fixture(scope="module")
def client(server_url: str) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(url=server_url.removeprefix("http://"))


def beats_input(beats: np.ndarray, binary: bool = True, name: str = "beats") -> triton.InferInput:
    tensor = triton.InferInput(name, list(beats.shape), "FP32")
    tensor.set_data_from_numpy(beats.astype(np.float32), binary_data=binary)
    return tensor


def v1_predict(server_url: str, beats: np.ndarray) -> dict[str, Any]:
    body = json.dumps({"beats": beats.tolist()}).encode()
    request = urllib.request.Request(
        f"{server_url}/v1/predict", body, {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read()))


def test_oip_health_and_metadata_answer_the_standard_client(
    client: triton.InferenceServerClient, shipped_model_dir: Path
) -> None:
    version = load_scorer(shipped_model_dir).metadata.model_version
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(MODEL)
    assert client.is_model_ready(MODEL, model_version=version)
    assert not client.is_model_ready("another-model")
    assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
    metadata = client.get_model_metadata(MODEL)
    assert metadata["versions"] == [version]
    assert metadata["inputs"] == [{"name": "beats", "datatype": "FP32", "shape": [-1, 140]}]
    assert [(o["name"], o["datatype"]) for o in metadata["outputs"]] == [
        ("reconstruction_error", "FP64"),
        ("is_anomaly", "BOOL"),
    ]


@pytest.mark.parametrize("binary", [True, False], ids=["binary-tensors", "json-tensors"])
def test_oip_infer_gives_the_errors_and_verdicts_of_v1_predict(
    client: triton.InferenceServerClient,
    server_url: str,
    reference_test_split: tuple[np.ndarray, np.ndarray],
    binary: bool,
) -> None:
    beats = reference_test_split[0][:300]
    outputs = [
        triton.InferRequestedOutput("reconstruction_error", binary_data=binary),
        triton.InferRequestedOutput("is_anomaly", binary_data=binary),
    ]
    # tritonclient sends no Content-Type at all, JSON or binary tensors alike
    result = client.infer(MODEL, [beats_input(beats, binary)], outputs=outputs, request_id="r-1")
    expected = v1_predict(server_url, beats)["results"]
    errors = result.as_numpy("reconstruction_error")
    flags = result.as_numpy("is_anomaly")
    assert errors.dtype == np.float64 and errors.shape == (300,)
    assert errors.tolist() == [row["reconstruction_error"] for row in expected]
    assert flags.tolist() == [row["is_anomaly"] for row in expected]
    response = result.get_response()
    assert response["id"] == "r-1"
    assert response["parameters"]["threshold"] == v1_predict(server_url, beats[:1])["threshold"]


def test_oip_infer_without_requested_outputs_returns_both_in_binary(
    client: triton.InferenceServerClient, reference_test_split: tuple[np.ndarray, np.ndarray]
) -> None:
    beats, abnormal = reference_test_split
    result = client.infer(MODEL, [beats_input(beats)])  # the client's defaults throughout
    flags = result.as_numpy("is_anomaly")
    assert flags.shape == (len(beats),)
    assert (flags == abnormal).mean() > 0.95  # the shipped model's accuracy on this split: 0.984


def test_oip_infer_on_a_named_version(
    client: triton.InferenceServerClient, shipped_model_dir: Path
) -> None:
    version = load_scorer(shipped_model_dir).metadata.model_version
    beats = np.asarray([load_scorer(shipped_model_dir).metadata.examples.abnormal])
    result = client.infer(MODEL, [beats_input(beats)], model_version=version)
    assert result.as_numpy("is_anomaly").tolist() == [True]
    with pytest.raises(InferenceServerException) as refused:
        client.infer(MODEL, [beats_input(beats)], model_version="1")
    assert refused.value.status() == "404"
    assert "unknown version '1'" in refused.value.message()


def refused(client: triton.InferenceServerClient, inputs: list[Any], model: str = MODEL) -> Any:
    with pytest.raises(InferenceServerException) as caught:
        client.infer(model, inputs)
    return caught.value


def test_oip_infer_refuses_a_wrong_shape_naming_it(client: triton.InferenceServerClient) -> None:
    error = refused(client, [beats_input(np.zeros((2, 139)))])
    assert error.status() == "400"
    assert error.message() == (
        "inputs[0].shape: must be [n, 140] with 1 <= n <= 10,000, got [2, 139]"
    )


def test_oip_infer_refuses_a_wrong_datatype(client: triton.InferenceServerClient) -> None:
    tensor = triton.InferInput("beats", [1, 140], "FP64")
    tensor.set_data_from_numpy(np.zeros((1, 140)), binary_data=False)
    error = refused(client, [tensor])
    assert error.status() == "400"
    assert error.message() == "inputs[0].datatype: must be FP32, got 'FP64'"


def test_oip_infer_refuses_a_wrong_input_name(client: triton.InferenceServerClient) -> None:
    error = refused(client, [beats_input(np.zeros((1, 140)), name="input_1")])
    assert error.status() == "400"
    assert "unexpected input 'input_1'; this model's input is 'beats'" in error.message()


def test_oip_infer_refuses_an_unknown_model(client: triton.InferenceServerClient) -> None:
    error = refused(client, [beats_input(np.zeros((1, 140)))], model="resnet50")
    assert error.status() == "404"
    assert error.message() == "unknown model 'resnet50'; this server serves ecg-anomaly, ecg5000"


def test_oip_serves_every_model_of_the_registry_by_its_name(
    client: triton.InferenceServerClient,
) -> None:
    beats = np.zeros((2, 140), dtype=np.float32)
    by_alias = client.infer("ecg-anomaly", [beats_input(beats)])
    by_name = client.infer("ecg5000", [beats_input(beats)])
    np.testing.assert_array_equal(
        by_alias.as_numpy("reconstruction_error"), by_name.as_numpy("reconstruction_error")
    )
    assert client.is_model_ready("ecg5000")


def test_oip_infer_refuses_a_nan_naming_beat_and_sample(
    client: triton.InferenceServerClient,
) -> None:
    beats = np.zeros((3, 140), dtype=np.float32)
    beats[2, 17] = np.nan
    error = refused(client, [beats_input(beats)])
    assert error.status() == "400"
    assert error.message().startswith("inputs[0].data: beat 2, sample 17 is not a finite")


def post_raw(server_url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(f"{server_url}/v2/models/{MODEL}/infer", body, headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


BINARY_HEADER = (
    b'{"inputs": [{"name": "beats", "datatype": "FP32", "shape": [1, 140], '
    b'"parameters": {"binary_data_size": 560}}]}'
)


@pytest.mark.parametrize(
    ("body", "headers", "message"),
    [
        (b"{not json", {}, "body: is not valid JSON"),
        (b"[1, 2]", {}, "body: must be a JSON object"),
        (b'{"inputs": []}', {}, "inputs: must be a list of one input"),
        (
            b'{"inputs": [{"name": "beats", "datatype": "FP32", "shape": [1, 140], '
            b'"data": ["a"]}]}',
            {},
            "inputs[0].data: must be 140 numbers",
        ),
        (
            BINARY_HEADER + b"\0" * 100,
            {"Inference-Header-Content-Length": str(len(BINARY_HEADER))},
            "body: 100 bytes follow the JSON part, inputs[0].parameters.binary_data_size says 560",
        ),
        (
            b"{}",
            {"Inference-Header-Content-Length": "99"},
            "header Inference-Header-Content-Length",
        ),
        (b"{}", {"Content-Encoding": "gzip"}, "header Content-Encoding: 'gzip' is not supported"),
    ],
    ids=["not-json", "not-object", "no-input", "strings", "short-binary", "bad-header", "gzip"],
)
def test_oip_infer_answers_malformed_bodies_in_the_protocols_error_form(
    server_url: str, body: bytes, headers: dict[str, str], message: str
) -> None:
    status, document = post_raw(server_url, body, headers)
    assert (status, list(document)) == (415 if "gzip" in message else 400, ["error"])
    assert document["error"].startswith(message)


def test_oip_health_stays_open_with_an_api_key_and_infer_does_not(
    shipped_model_dir: Path,
) -> None:
    settings = Settings(model_dir=shipped_model_dir, api_key=SecretStr("k3y"))
    with TestClient(create_app(settings)) as keyed:
        assert keyed.get("/v2/health/ready").json() == {"ready": True}
        assert keyed.get("/v2/health/live").status_code == 200
        assert keyed.post(f"/v2/models/{MODEL}/infer", content=b"{}").status_code == 401
        assert keyed.get(f"/v2/models/{MODEL}", headers={"X-API-Key": "k3y"}).status_code == 200
