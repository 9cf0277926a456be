"""ECG_MAX_BODY_BYTES: bodies over the limit are refused with 413, before or while they are read."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app

AsgiRequest = Callable[..., Awaitable[list[dict[str, Any]]]]
LIMIT = 4096
BEAT = [0.0] * 140


@pytest.fixture(scope="module")
def limited(shipped_model_dir: Path) -> Iterator[TestClient]:
    """The service with a 4 KiB body limit: one beat of zeros as JSON (0.7 KB) fits, ten do not."""
    app = create_app(Settings(model_dir=shipped_model_dir, max_body_bytes=LIMIT))
    with TestClient(app) as client:
        yield client


def _json(beats: int) -> bytes:
    return json.dumps({"beats": [BEAT] * beats}).encode()


def _chunks(body: bytes, size: int = 512) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def _assert_names_the_limit(response: Any) -> None:
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["connection"] == "close"
    problem = response.json()
    assert problem["status"] == 413
    assert problem["errors"][0]["location"] == "body"
    assert f"limit of {LIMIT:,} bytes (ECG_MAX_BODY_BYTES)" in problem["detail"]


def test_predict_serves_a_body_within_the_size_limit(limited: TestClient) -> None:
    body = _json(1)
    assert len(body) <= LIMIT
    response = limited.post(
        "/v1/predict", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 200


def test_predict_refuses_body_over_the_size_limit_by_its_content_length(
    limited: TestClient,
) -> None:
    body = _json(10)
    response = limited.post(
        "/v1/predict", content=body, headers={"content-type": "application/json"}
    )
    _assert_names_the_limit(response)
    assert f"({len(body):,} bytes by its Content-Length)" in response.json()["detail"]


def test_predict_refuses_body_over_the_size_limit_before_reading_it(
    limited: TestClient, asgi_request: AsgiRequest
) -> None:
    """A Content-Length over the limit is answered without asking the server for the body."""

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read")

    headers = [(b"content-length", b"1000000000000")]
    assert limited.portal is not None
    messages = limited.portal.call(
        asgi_request, limited.app, "POST", "/v1/predict", receive, headers
    )
    assert messages[0]["status"] == 413
    assert b"ECG_MAX_BODY_BYTES" in messages[1]["body"]


def test_predict_refuses_chunked_body_over_the_size_limit(limited: TestClient) -> None:
    response = limited.post(
        "/v1/predict", content=_chunks(_json(10)), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers  # sent chunked
    assert response.request.headers["transfer-encoding"] == "chunked"
    _assert_names_the_limit(response)


def test_predict_serves_chunked_body_within_the_size_limit(limited: TestClient) -> None:
    response = limited.post(
        "/v1/predict", content=_chunks(_json(1)), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_predict_stops_reading_a_chunked_body_once_it_passes_the_limit(
    limited: TestClient, asgi_request: AsgiRequest
) -> None:
    """An endless chunked body: reading stops at the chunk that passes the limit."""
    chunk_size, pulled = 1000, 0

    async def endless_receive() -> dict[str, Any]:
        nonlocal pulled
        pulled += 1
        return {"type": "http.request", "body": b" " * chunk_size, "more_body": True}

    assert limited.portal is not None
    messages = limited.portal.call(
        asgi_request, limited.app, "POST", "/v1/predict", endless_receive
    )
    assert messages[0]["status"] == 413
    assert pulled == LIMIT // chunk_size + 1


@pytest.mark.parametrize(
    "method, path",
    [("POST", "/v1/model/reload"), ("GET", "/v1/model"), ("GET", "/health"), ("POST", "/nowhere")],
)
def test_body_size_limit_covers_every_endpoint(limited: TestClient, method: str, path: str) -> None:
    _assert_names_the_limit(limited.request(method, path, content=b"x" * (LIMIT + 1)))


def test_default_body_size_limit_fits_the_most_beats_as_pretty_printed_json() -> None:
    """Full-precision float64 samples, each on its own indented line (`json.dumps(indent=4)`)."""
    settings = Settings()
    sample = -1.2345678901234567e-05  # as long as a float64's repr gets
    one, two = (len(json.dumps({"beats": [[sample] * 140] * n}, indent=4)) for n in (1, 2))
    most = one + (two - one) * (settings.max_beats - 1)
    assert most < settings.max_body_bytes
    assert settings.max_body_bytes == 64 * 1024 * 1024
