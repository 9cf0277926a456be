"""ECG_API_KEY: when set, every endpoint but health, readiness and the docs needs X-API-Key."""

from __future__ import annotations

from collections.abc import Iterator
from hashlib import sha256
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

import app.api.middleware
import app.cli
from app.config import Settings
from app.main import create_app

KEY = "s3cret-Key_0123456789"
BEAT = [0.0] * 140
PROTECTED = [
    ("POST", "/v1/predict", {"beats": [BEAT]}),
    ("GET", "/v1/model", None),
    ("POST", "/v1/model/reload", None),
]
OPEN = [
    "/health",
    "/ready",
    "/metrics",
    "/docs",
    "/static/swagger-ui/swagger-ui-bundle.js",
    "/openapi.json",
]


@pytest.fixture(scope="module")
def keyed(shipped_model_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_dir=shipped_model_dir, api_key=KEY))) as client:
        yield client


@pytest.mark.parametrize("method, path, body", PROTECTED)
def test_endpoints_are_open_when_no_api_key_is_set(
    client: TestClient, method: str, path: str, body: object
) -> None:
    assert client.request(method, path, json=body).status_code == 200
    assert "securitySchemes" not in client.get("/openapi.json").json()["components"]


@pytest.mark.parametrize("method, path, body", PROTECTED)
def test_protected_endpoint_refuses_a_request_without_the_api_key(
    keyed: TestClient, method: str, path: str, body: object
) -> None:
    response = keyed.request(method, path, json=body)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'ApiKey header="X-API-Key"'
    problem = response.json()
    assert problem["status"] == 401
    assert problem["errors"][0]["location"] == "header.X-API-Key"
    assert "is missing" in problem["detail"]
    assert "X-API-Key: <key>" in problem["detail"]


@pytest.mark.parametrize("method, path, body", PROTECTED)
def test_protected_endpoint_refuses_a_wrong_api_key_without_echoing_it(
    keyed: TestClient, method: str, path: str, body: object
) -> None:
    wrong = KEY[:-1] + "X"
    response = keyed.request(method, path, json=body, headers={"X-API-Key": wrong})
    assert response.status_code == 401
    assert "is not the service's API key" in response.json()["detail"]
    assert wrong not in response.text
    assert KEY not in response.text


@pytest.mark.parametrize("method, path, body", PROTECTED)
def test_protected_endpoint_serves_a_request_with_the_right_api_key(
    keyed: TestClient, method: str, path: str, body: object
) -> None:
    response = keyed.request(method, path, json=body, headers={"X-API-Key": KEY})
    assert response.status_code == 200


def test_unknown_paths_are_protected_too(keyed: TestClient) -> None:
    """Only the listed paths are open, so a route added later is protected by default."""
    assert keyed.get("/v2/nothing").status_code == 401
    assert keyed.get("/v2/nothing", headers={"X-API-Key": KEY}).status_code == 404


@pytest.mark.parametrize("path", OPEN)
def test_health_ready_and_docs_stay_open_with_an_api_key(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 200


def test_openapi_document_declares_the_api_key_scheme(keyed: TestClient) -> None:
    document = keyed.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["APIKeyHeader"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-API-Key"}
    for method, path, _ in PROTECTED:
        operation = document["paths"][path][method.lower()]
        assert operation["security"] == [{"APIKeyHeader": []}]
        assert "401" in operation["responses"]
    for path in ("/health", "/ready"):
        assert "security" not in document["paths"][path]["get"]
    # the model's Swagger examples are still there to try once authorised
    body = document["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert set(body["application/json"]["examples"]) == {"normal", "abnormal", "both"}


def test_api_key_is_compared_in_constant_time(
    keyed: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []

    def compare_digest(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return a == b

    monkeypatch.setattr(app.api.middleware.hmac, "compare_digest", compare_digest)
    assert keyed.get("/v1/model", headers={"X-API-Key": "guess"}).status_code == 401
    assert compared == [(sha256(b"guess").digest(), sha256(KEY.encode()).digest())]


@pytest.mark.parametrize("key", ["", " ", f"{KEY} ", "naïve", "two words"])
def test_api_key_setting_refuses_a_key_no_client_could_send(key: str) -> None:
    with pytest.raises(ValidationError, match="api_key") as error:
        Settings(api_key=key)
    assert not key.strip() or key.strip() not in str(error.value)


def test_api_key_setting_is_not_shown_in_the_settings(shipped_model_dir: Path) -> None:
    settings = Settings(model_dir=shipped_model_dir, api_key=KEY)
    assert KEY not in repr(settings)
    assert KEY not in str(settings.model_dump())


def test_ecg_serve_refuses_an_unusable_api_key_in_one_line_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ECG_API_KEY", "my key")
    assert app.cli.main([]) == 2
    error = capsys.readouterr().err
    assert error == (
        "ecg-serve: ECG_API_KEY: Value error, must be one or more visible ASCII characters "
        "(no spaces), as sent in a header\n"
    )


@pytest.mark.parametrize("path", ["/", "/v1/model/plots/loss.png"])
def test_page_and_plots_need_the_api_key_too(keyed: TestClient, path: str) -> None:
    assert keyed.get(path).status_code == 401
    assert keyed.get(path, headers={"X-API-Key": KEY}).status_code == 200
